// Command dropp is the server behind the Dropp desktop file-drop app: it signs
// users in, hands out pre-signed upload and download URLs, and keeps file
// metadata. Run it with `go run .`; `-h` lists every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	getenv, names := processEnv(".env")
	err := runDropp(ctx, os.Args, getenv, os.Stdout, os.Stderr, names...)
	stop()
	if code := exitCode(err); code != 0 {
		for _, line := range strings.Split(err.Error(), "\n") { // one per problem
			fmt.Fprintln(os.Stderr, "dropp:", line)
		}
		os.Exit(code)
	}
}

// exitCode is the process's exit status for runDropp's error: 0 for none or for
// -h, 2 for a command line dropp does not take (as the flag package does),
// 1 for anything else.
func exitCode(err error) int {
	var usage usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	}
	return 1
}

// runDropp is the whole program: it reads the configuration, connects the
// backends, serves until ctx ends, then shuts down gracefully. Tests call it
// directly with their own args, environment and outputs. envNames are the
// names of the variables set (main passes the process's and .env's): the
// ones that look like a misspelt setting are warned about.
func runDropp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, envNames ...string) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { printUsage(stderr) }
	showVersion := flags.Bool("version", false, "print the version and exit")
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case *showVersion && flags.NArg() == 0, flags.NArg() == 1 && flags.Arg(0) == "version":
		fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
		return nil
	case flags.NArg() == 1 && flags.Arg(0) == "healthcheck":
		return runHealthcheck(ctx, getenv, stdout)
	case flags.NArg() > 0 && flags.Arg(0) == "backup":
		return runBackup(flags.Args()[1:], getenv, stdout, stderr)
	case flags.NArg() > 0 && flags.Arg(0) == "reconcile":
		return runReconcile(ctx, flags.Args()[1:], getenv, stdout, stderr)
	case flags.NArg() > 0 && flags.Arg(0) == "migrate":
		return runMigrate(ctx, flags.Args()[1:], getenv, stdout, stderr)
	case flags.NArg() > 0 && flags.Arg(0) == "invite":
		return runInvite(ctx, flags.Args()[1:], getenv, stdout) // invite.go
	case flags.NArg() > 0:
		printUsage(stderr)
		return usageError{fmt.Errorf("unexpected argument %q: dropp takes no arguments but version, healthcheck, backup, reconcile, migrate and invite", flags.Arg(0))}
	}
	logger := newLogger(getenv("LOG_FORMAT"), stderr)
	for _, w := range unknownSettingWarnings(envNames, getenv) {
		logger.Warn(w)
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := ensureSecretKey(cfg); err != nil {
		return err
	}
	app, err := openBackends(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.close()

	front, err := newFront(cfg, logger) // TLS, see tls.go
	if err != nil {
		return err
	}
	defer front.close()
	ln, err := front.listen(cfg.Addr)
	if err != nil {
		return err
	}
	s := newServer(cfg, logger, app.store, app.objects)
	defer s.startSweeper(ctx)() // stops before the backends close
	defer s.startWebhooks(ctx)()
	stopMetrics, err := serveMetrics(cfg, s.metrics, stdout, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopMetrics()
	app.lines = append(app.lines, front.lines...)
	app.announce(stdout, cfg, ln.Addr())
	return front.serve(ctx, newHTTPServer(s), ln, logger)
}

// versionLine describes the build from its embedded build info: the module
// version ("(devel)" when built from a work tree) and the VCS revision
// ("unknown" when the build recorded none).
func versionLine(info *debug.BuildInfo, ok bool) string {
	b := readBuild(info, ok)
	if !ok {
		return fmt.Sprintf("dropp %s, revision %s", b.version, b.revision)
	}
	modified := ""
	if b.modified {
		modified = " (modified)"
	}
	return fmt.Sprintf("dropp %s, revision %s%s, %s", b.version, b.revision, modified, b.goVersion)
}
