// Command testrig runs the MongoDB-wire test server the Dropp suite needs:
// FerretDB embedded with its SQLite handler, or with its PostgreSQL handler
// for load (scripts/soak), since the SQLite one scans whole collections. It
// lives in its own module so the server's go.mod keeps only the modules
// linked into the binary.
//
//	testrig -listen 127.0.0.1:27017 -dir /tmp/ferret
//	testrig -listen 127.0.0.1:27017 -postgresql postgres://postgres@127.0.0.1:5432/postgres
//
// It prints "ready <mongodb-uri>" on stdout once it accepts connections and
// runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testrig:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on")
	dir := flag.String("dir", "", "directory for the SQLite files (created if missing)")
	postgresql := flag.String("postgresql", "", "PostgreSQL URL: use the PostgreSQL handler instead of SQLite in -dir")
	flag.Parse()
	cfg, err := handlerConfig(*dir, *postgresql)
	if err != nil {
		return err
	}
	cfg.Listener = ferretdb.ListenerConfig{TCP: *listen}
	f, err := ferretdb.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	fmt.Printf("ready %s\n", f.MongoDBURI())
	return <-done
}

// handlerConfig picks FerretDB's backend: PostgreSQL when a URL is given,
// else SQLite files in dir.
func handlerConfig(dir, postgresql string) (*ferretdb.Config, error) {
	switch {
	case postgresql != "" && dir != "":
		return nil, fmt.Errorf("give -dir or -postgresql, not both")
	case postgresql != "":
		return &ferretdb.Config{Handler: "postgresql", PostgreSQLURL: postgresql}, nil
	case dir == "":
		return nil, fmt.Errorf("-dir or -postgresql is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + dir + "/"}, nil
}
