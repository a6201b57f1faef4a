// Command dropp-cli drives Dropp's reference client from a terminal:
//
//	go run ./client/cmd/dropp-cli signin            # opens the browser, saves the token
//	go run ./client/cmd/dropp-cli upload FILE [CONTENT-TYPE]
//	go run ./client/cmd/dropp-cli list
//	go run ./client/cmd/dropp-cli download ID DEST
//	go run ./client/cmd/dropp-cli delete ID
//	go run ./client/cmd/dropp-cli me
//	go run ./client/cmd/dropp-cli logout
//
// The server is $DROPP_URL (default http://127.0.0.1:8080); the token is
// $DROPP_TOKEN, or the one signin saved in the user's config directory.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"dropp/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dropp-cli:", err)
		os.Exit(1)
	}
}

const usage = "usage: dropp-cli signin | upload FILE [CONTENT-TYPE] | list | download ID DEST | delete ID | me | logout"

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	base := cmp.Or(os.Getenv("DROPP_URL"), "http://127.0.0.1:8080")
	if args[0] == "signin" {
		_, tok, err := client.SignIn(ctx, base, nil, 0)
		if err != nil {
			return err
		}
		fmt.Println("signed in as", cmp.Or(tok.User.Email, tok.User.ID))
		return saveToken(tok.AccessToken)
	}
	token := cmp.Or(os.Getenv("DROPP_TOKEN"), savedToken())
	if token == "" {
		return errors.New("not signed in: run dropp-cli signin, or set DROPP_TOKEN")
	}
	c := client.New(base, token)
	switch {
	case args[0] == "upload" && (len(args) == 2 || len(args) == 3):
		ctype := ""
		if len(args) == 3 {
			ctype = args[2]
		}
		f, err := c.Upload(ctx, args[1], ctype, progressTo("upload"))
		return printJSON(f, err)
	case args[0] == "list" && len(args) == 1:
		files, err := c.ListAll(ctx, client.ListOptions{})
		return printJSON(files, err)
	case args[0] == "download" && len(args) == 3:
		f, err := c.Download(ctx, args[1], args[2], progressTo("download"))
		return printJSON(f, err)
	case args[0] == "delete" && len(args) == 2:
		return c.Delete(ctx, args[1])
	case args[0] == "me" && len(args) == 1:
		me, err := c.Me(ctx)
		return printJSON(me, err)
	case args[0] == "logout" && len(args) == 1:
		if err := c.Logout(ctx); err != nil {
			return err
		}
		os.Remove(tokenPath())
		return nil
	}
	return errors.New(usage)
}

// progressTo reports a transfer's progress on stderr.
func progressTo(what string) client.Progress {
	return func(done, total int64) {
		fmt.Fprintf(os.Stderr, "\r%s: %d of %d bytes", what, done, total)
		if done == total {
			fmt.Fprintln(os.Stderr)
		}
	}
}

func printJSON(v any, err error) error {
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(out))
	return nil
}

// tokenPath is where signin keeps the token: private to the user.
func tokenPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "dropp", "token")
}

func savedToken() string {
	data, _ := os.ReadFile(tokenPath())
	return strings.TrimSpace(string(data))
}

func saveToken(token string) error {
	p := tokenPath()
	if p == "" {
		fmt.Println("export DROPP_TOKEN=" + token)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(token+"\n"), 0o600)
}
