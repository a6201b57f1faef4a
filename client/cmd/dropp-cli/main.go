// Command dropp-cli drives Dropp's reference client from a terminal. Run
// "dropp-cli help" for its commands; client/README.md tells more.
//
// The server is $DROPP_URL (default http://127.0.0.1:8080); the token is
// $DROPP_TOKEN, or the one signin saved in the user's config directory.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"dropp/client"
)

// Exit statuses.
const (
	exitOK     = 0 // done
	exitFailed = 1 // the command failed: the server refused, the network, a file, not signed in
	exitUsage  = 2 // the command line is wrong: the usage is printed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is one run of dropp-cli.
type cli struct {
	stdout, stderr io.Writer
	base           string // the server
	args           []string
	force          bool     // download -force
	expires        lifetime // share create -expires
	maxDownloads   int64    // share create -max-downloads (and drop create)
	scopes         string   // token create -scopes
	tokenExpires   tokenLifetime
	password       string // share create, request create and request send -password ("-": the first line of stdin)
	membersOnly    bool   // share create and request create -members-only
	allowPreview   bool   // drop create -allow-preview

	req requestFlags // request create and send (requests.go)
}

// A command is one thing dropp-cli does.
type command struct {
	name  string // as typed: "share create"
	args  string // its arguments, as the usage shows them
	about string
	nargs [2]int                                  // least and most arguments, flags aside
	flags func(c *cli, fs *flag.FlagSet)          // declares its flags, if any
	check func(c *cli) error                      // a usage error its flags make, if any
	run   func(c *cli, ctx context.Context) error // runs it with c.args
}

var commands = []command{
	{name: "signin", about: "sign in with the browser and save the token", run: (*cli).signin},
	{name: "upload", args: "FILE [CONTENT-TYPE]", about: "upload a file; prints its record", nargs: [2]int{1, 2}, run: (*cli).upload},
	{name: "list", about: "list your files, newest first", run: (*cli).list},
	{name: "download", args: "[-force] ID [DEST]", nargs: [2]int{1, 2}, run: (*cli).download, flags: func(c *cli, fs *flag.FlagSet) {
		fs.BoolVar(&c.force, "force", false, "")
	}, about: "save a file at DEST: a file path, or a directory to save it in under its own name\n" +
		"(default: the current directory); an existing file is kept unless -force"},
	{name: "delete", args: "ID", about: "delete a file, and its share links", nargs: [2]int{1, 1}, run: (*cli).delete},
	{name: "share create", args: "FILE_ID [-expires DURATION] [-max-downloads N] [-password PASSWORD] [-members-only]", nargs: [2]int{1, 1}, run: (*cli).shareCreate,
		flags: func(c *cli, fs *flag.FlagSet) {
			fs.Var(&c.expires, "expires", "")
			fs.Int64Var(&c.maxDownloads, "max-downloads", 0, "")
			fs.StringVar(&c.password, "password", "", "")
			fs.BoolVar(&c.membersOnly, "members-only", false, "")
		}, about: "make a link to a file; prints it with its url. DURATION: 90m, 12h, 7d\n" +
			"(default: the server's, normally 7 days); N: 1..100000 downloads (default: no limit);\n" +
			"-password asks whoever opens the link for it (12 to 256 characters; - reads it from\n" +
			"the first line of stdin, out of the process list); -members-only: signed-in users only"},
	{name: "share list", args: "FILE_ID", about: "list a file's live links (without their url)", nargs: [2]int{1, 1}, run: (*cli).shareList},
	{name: "share revoke", args: "SHARE_ID", about: "end a link at once", nargs: [2]int{1, 1}, run: (*cli).shareRevoke},
	{name: "token create", args: "NAME -scopes SCOPE,... [-expires DURATION]", nargs: [2]int{1, 1}, run: (*cli).tokenCreate,
		flags: func(c *cli, fs *flag.FlagSet) {
			fs.StringVar(&c.scopes, "scopes", "", "")
			fs.Var(&c.tokenExpires, "expires", "")
		}, check: func(c *cli) error {
			if c.scopes == "" { // the server would answer `unknown scope ""`
				return errors.New("token create needs -scopes SCOPE,... (files:read, files:write, shares:write, requests:write)")
			}
			return nil
		}, about: "make a personal access token for a script; prints it with its secret, shown only once.\n" +
			"SCOPE: files:read, files:write, shares:write, requests:write; DURATION: 12h, 90d or never\n" +
			"(default: the server's longest, normally a year); never: where the server allows it"},
	{name: "token list", about: "list your personal access tokens (without their secrets)", run: (*cli).tokenList},
	{name: "token revoke", args: "TOKEN_ID", about: "end a personal access token at once", nargs: [2]int{1, 1}, run: (*cli).tokenRevoke},
	// Drops (drops.go): one link to several files.
	{name: "drop create", args: "FILE_ID... [-expires DURATION] [-max-downloads N] [-allow-preview]", nargs: [2]int{1, 100}, run: (*cli).dropCreate,
		flags: func(c *cli, fs *flag.FlagSet) {
			fs.Var(&c.expires, "expires", "")
			fs.Int64Var(&c.maxDownloads, "max-downloads", 0, "")
			fs.BoolVar(&c.allowPreview, "allow-preview", false, "")
		}, about: "make one link to several files; prints it with its url. N: downloads of each file;\n" +
			"-allow-preview: show previews even with a download limit"},
	{name: "drop add", args: "SHARE_ID FILE_ID...", about: "add files to a link", nargs: [2]int{2, 101}, run: (*cli).dropAdd},
	{name: "drop remove", args: "SHARE_ID FILE_ID", about: "take a file out of a link", nargs: [2]int{2, 2}, run: (*cli).dropRemove},
	{name: "drop list", about: "list all your live links (without their url)", run: (*cli).dropList},
	{name: "webhook add", args: "URL EVENT...", about: "register a webhook endpoint for events (file.completed, file.deleted, share.created,\n" +
		"share.downloaded, request.received); prints it with its secret, shown once", nargs: [2]int{2, 6}, run: (*cli).webhookAdd},
	{name: "webhook list", about: "list your webhook endpoints (without secrets)", run: (*cli).webhookList},
	{name: "webhook rm", args: "WEBHOOK_ID", about: "delete a webhook endpoint", nargs: [2]int{1, 1}, run: (*cli).webhookRm},
	{name: "webhook test", args: "WEBHOOK_ID", about: "send a webhook.test event; prints its delivery", nargs: [2]int{1, 1}, run: (*cli).webhookTest},
	{name: "request create", args: "TITLE -max-files N -max-bytes N [-message TEXT] [-expires DURATION] [-types LIST] [-password PASSWORD] [-members-only]", nargs: [2]int{1, 1},
		run: (*cli).requestCreate, flags: requestCreateFlags, about: "make a file request: a link through which anyone may send you files;\n" +
			"prints it with its url. LIST: comma-separated types such as image/*,application/pdf;\n" +
			"-password and -members-only protect the link as share create's do"},
	{name: "request list", about: "list your live file requests (without their url)", run: (*cli).requestList},
	{name: "request close", args: "REQUEST_ID", about: "close a file request: its link stops taking files", nargs: [2]int{1, 1}, run: (*cli).requestClose},
	{name: "request reopen", args: "REQUEST_ID", about: "reopen a closed file request", nargs: [2]int{1, 1}, run: (*cli).requestReopen},
	{name: "request delete", args: "REQUEST_ID", about: "end a file request; the files it received stay", nargs: [2]int{1, 1}, run: (*cli).requestDelete},
	{name: "request send", args: "LINK FILE [CONTENT-TYPE] [-name NAME] [-note TEXT] [-password PASSWORD]", nargs: [2]int{2, 3}, run: (*cli).requestSend,
		flags: requestSendFlags, about: "send a file through someone's file request link (no sign-in needed);\n" +
			"-password gives a protected request's password (- reads it from stdin); signed in, a link\n" +
			"of DROPP_URL's server is sent to as you, which a members-only request needs"},
	{name: "me", about: "who is signed in, and their usage", run: (*cli).me},
	{name: "logout", about: "revoke the token and forget it", run: (*cli).logout},
	{name: "help", about: "print this help"},
}

// usage is the help, made from the commands.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: dropp-cli COMMAND [ARGUMENTS]\n\nCommands:\n")
	for _, cmd := range commands {
		fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(cmd.name+" "+cmd.args))
		for line := range strings.SplitSeq(cmd.about, "\n") {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	b.WriteString(`
Environment:
  DROPP_URL    the server (default http://127.0.0.1:8080)
  DROPP_TOKEN  the access token (default: the one signin saved)

Records print as JSON on stdout; progress and errors go to stderr.
Exit status: 0 done, 1 the command failed, 2 a wrong command line.
`)
	return b.String()
}

// errHelp asks for the usage on stdout.
var errHelp = errors.New("help")

// run runs dropp-cli with args and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, base: cmp.Or(os.Getenv("DROPP_URL"), "http://127.0.0.1:8080")}
	cmd, err := c.parse(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage())
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "dropp-cli: %v\n\n%s", err, usage())
		return exitUsage
	}
	if u, err := url.Parse(c.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "dropp-cli: DROPP_URL must be a URL such as http://127.0.0.1:8080, not %q\n", c.base)
		return exitUsage
	}
	if err := cmd.run(c, ctx); err != nil {
		fmt.Fprintln(stderr, "dropp-cli:", err)
		return exitFailed
	}
	return exitOK
}

// parse finds the command args name and reads its flags and arguments
// into c. It needs no token and no server.
func (c *cli) parse(args []string) (*command, error) {
	if len(args) == 0 {
		return nil, errors.New("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return nil, errHelp
	}
	name, rest := args[0], args[1:]
	subs := subcommands(name)
	if len(subs) > 0 && len(rest) > 0 {
		name, rest = name+" "+rest[0], rest[1:]
	}
	for i := range commands {
		if cmd := &commands[i]; cmd.name == name && cmd.run != nil {
			return cmd, c.parseArgs(cmd, rest)
		}
	}
	if len(subs) > 0 {
		return nil, fmt.Errorf("%s takes %s", args[0], orList(subs))
	}
	return nil, fmt.Errorf("unknown command %q", strings.Join(args[:len(args)-len(rest)], " "))
}

// subcommands lists, in the table's order, the second words of the commands
// whose first word is group ("share" -> create, list, revoke): none for a
// command of one word.
func subcommands(group string) []string {
	var subs []string
	for _, cmd := range commands {
		if first, second, ok := strings.Cut(cmd.name, " "); ok && first == group {
			subs = append(subs, second)
		}
	}
	return subs
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parseArgs reads the command's flags, before or after its arguments.
func (c *cli) parseArgs(cmd *command, args []string) error {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.flags != nil {
		cmd.flags(c, fs)
	}
	for len(args) > 0 {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			return errHelp
		} else if err != nil {
			return fmt.Errorf("%s: %v", cmd.name, err)
		}
		args = fs.Args()
		if len(args) > 0 {
			c.args, args = append(c.args, args[0]), args[1:]
		}
	}
	if n := len(c.args); n < cmd.nargs[0] || n > cmd.nargs[1] {
		return fmt.Errorf("%s takes %s", cmd.name, cmp.Or(cmd.args, "no arguments"))
	}
	if cmd.check != nil {
		return cmd.check(c)
	}
	return nil
}

// lifetime is -expires: a Go duration (90m, 12h) or whole days (7d).
type lifetime time.Duration

func (l *lifetime) String() string { return time.Duration(*l).String() }

func (l *lifetime) Set(s string) error {
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	}
	if err != nil || d < time.Second {
		return fmt.Errorf("%q is not a lifetime of a second or more, such as 90m, 12h or 7d", s)
	}
	*l = lifetime(d)
	return nil
}

// tokenLifetime is token create -expires: a lifetime, or "never".
type tokenLifetime struct {
	lifetime
	never bool
}

func (l *tokenLifetime) Set(s string) error {
	if s == "never" {
		l.never = true
		return nil
	}
	return l.lifetime.Set(s)
}

// client is the signed-in client, or an error saying how to sign in.
func (c *cli) client() (*client.Client, error) {
	token := signedInToken()
	if token == "" {
		return nil, errors.New("not signed in: run dropp-cli signin, or set DROPP_TOKEN")
	}
	return client.New(c.base, token), nil
}

func (c *cli) signin(ctx context.Context) error {
	_, tok, err := client.SignIn(ctx, c.base, c.openBrowser, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "signed in as", cmp.Or(tok.User.Email, tok.User.ID))
	return c.saveToken(tok.AccessToken)
}

// openBrowser prints the sign-in URL first, so that a user without a
// working browser (a server, SSH, a container) can open it elsewhere on
// the same machine, then tries the browser and says what it waits for.
func (c *cli) openBrowser(u string) error {
	fmt.Fprintf(c.stderr, "To sign in, open this URL in a browser:\n\n    %s\n\n", u)
	if err := client.OpenBrowser(u); err != nil {
		fmt.Fprintf(c.stderr, "(No browser could be started: %v. Open the URL yourself.)\n", err)
	}
	fmt.Fprintf(c.stderr, "Waiting for the sign-in to finish in the browser, at most %v… (Ctrl-C to stop)\n", client.SignInTimeout)
	return nil
}

func (c *cli) upload(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctype := ""
	if len(c.args) == 2 {
		ctype = c.args[1]
	}
	p := newProgress(c.stderr, "upload")
	f, err := cl.Upload(ctx, c.args[0], ctype, p.report)
	p.finish()
	return c.print(f, err)
}

func (c *cli) list(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	files, err := cl.ListAll(ctx, client.ListOptions{})
	if files == nil {
		files = []client.File{}
	}
	return c.print(files, err)
}

func (c *cli) download(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	dest := "."
	if len(c.args) == 2 {
		dest = c.args[1]
	}
	p := newProgress(c.stderr, "download")
	f, path, err := cl.Download(ctx, c.args[0], dest, client.DownloadOptions{Overwrite: c.force, Progress: p.report})
	p.finish()
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w (give another DEST, or -force to replace it)", err)
	}
	if err == nil {
		fmt.Fprintln(c.stderr, "saved", path)
	}
	return c.print(f, err)
}

func (c *cli) delete(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.Delete(ctx, c.args[0])
}

func (c *cli) shareCreate(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	password, err := c.sharePassword()
	if err != nil {
		return err
	}
	sh, err := cl.CreateShare(ctx, c.args[0], client.ShareOptions{ExpiresIn: time.Duration(c.expires), MaxDownloads: c.maxDownloads,
		Password: password, MembersOnly: c.membersOnly})
	return c.print(sh, err)
}

// sharePassword is -password, or with "-" the first line of stdin, so
// that the password need not appear in the process list.
func (c *cli) sharePassword() (string, error) {
	if c.password != "-" {
		return c.password, nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("-password -: stdin held no password")
	}
	return line, nil
}

func (c *cli) shareList(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	shares, err := cl.ListShares(ctx, c.args[0])
	return c.print(shares, err)
}

func (c *cli) shareRevoke(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.RevokeShare(ctx, c.args[0])
}

func (c *cli) tokenCreate(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	tok, err := cl.CreateToken(ctx, client.TokenOptions{
		Name: c.args[0], Scopes: strings.Split(c.scopes, ","),
		ExpiresIn: time.Duration(c.tokenExpires.lifetime), Never: c.tokenExpires.never,
	})
	return c.print(tok, err)
}

func (c *cli) tokenList(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	tokens, err := cl.ListTokens(ctx)
	return c.print(tokens, err)
}

func (c *cli) tokenRevoke(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.RevokeToken(ctx, c.args[0])
}

func (c *cli) webhookAdd(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	hook, err := cl.AddWebhook(ctx, c.args[0], c.args[1:])
	return c.print(hook, err)
}

func (c *cli) webhookList(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	hooks, err := cl.ListWebhooks(ctx)
	return c.print(hooks, err)
}

func (c *cli) webhookRm(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.DeleteWebhook(ctx, c.args[0])
}

func (c *cli) webhookTest(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	d, err := cl.TestWebhook(ctx, c.args[0])
	return c.print(d, err)
}

func (c *cli) me(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	me, err := cl.Me(ctx)
	return c.print(me, err)
}

func (c *cli) logout(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := cl.Logout(ctx); err != nil {
		return err
	}
	os.Remove(tokenPath())
	return nil
}

// print writes v as JSON on stdout, unless err.
func (c *cli) print(v any, err error) error {
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, string(out))
	return err
}

// tokenPath is where signin keeps the token: private to the user.
func tokenPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "dropp", "token")
}

// signedInToken is DROPP_TOKEN, or the token signin saved; "" if neither.
func signedInToken() string {
	return cmp.Or(os.Getenv("DROPP_TOKEN"), savedToken())
}

func savedToken() string {
	data, _ := os.ReadFile(tokenPath())
	return strings.TrimSpace(string(data))
}

func (c *cli) saveToken(token string) error {
	p := tokenPath()
	if p == "" {
		fmt.Fprintln(c.stdout, "export DROPP_TOKEN="+token)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(token+"\n"), 0o600)
}
