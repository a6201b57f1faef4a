package main

// `dropp invite EMAIL [-admin]`, run on the server's host with the
// server's settings: prints a one-time invitation link under PUBLIC_URL.
// This is how the first administrator is made. It works while the server
// runs: on MongoDB it is one more client; in local mode it adds the
// invitation as a file beside the store (localstore_accounts.go), which
// needs none of the lock the running server holds.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"
)

// runInvite is `dropp invite EMAIL [-admin]` (the flag before or after).
func runInvite(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	email, admin, err := parseInviteArgs(args)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if !cfg.accountsSignIn() {
		return errors.New("invite: accounts are off: set SIGNIN=accounts (or oidc,accounts) and PUBLIC_URL, as the server has them")
	}
	if !memberAllowed(cfg, member{email: email}) {
		return fmt.Errorf("invite: %s is not on ALLOWED_EMAILS or ALLOWED_EMAIL_DOMAINS, so its account could not be used", email)
	}
	link, inv, err := inviteWith(ctx, cfg, email, admin, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	role := "an account"
	if admin {
		role = "an administrator's account"
	}
	fmt.Fprintf(stdout, "Invitation for %s (%s), valid once until %s:\n%s\n", inv.Email, role, inv.ExpiresAt.Format(time.RFC3339), link)
	return nil
}

// parseInviteArgs reads EMAIL and -admin, in either order.
func parseInviteArgs(args []string) (string, bool, error) {
	const usage = "usage: dropp invite EMAIL [-admin]"
	flags := flag.NewFlagSet("dropp invite", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	admin := flags.Bool("admin", false, "make the account an administrator")
	if err := flags.Parse(args); err != nil {
		return "", false, usageError{errors.New(usage)}
	}
	rest := flags.Args()
	if len(rest) > 1 {
		if err := flags.Parse(rest[1:]); err != nil || flags.NArg() > 0 {
			return "", false, usageError{errors.New(usage)}
		}
	}
	if len(rest) == 0 {
		return "", false, usageError{errors.New(usage)}
	}
	email := normalEmail(rest[0])
	if !validEmail(email) {
		return "", false, usageError{fmt.Errorf("%s: %q is not an email address", usage, rest[0])}
	}
	return email, *admin, nil
}

// inviteWith stores the invitation where the server will find it.
func inviteWith(ctx context.Context, cfg *config, email string, admin bool, now time.Time) (string, Invitation, error) {
	base := publicBaseURL(cfg)
	if cfg.localMetadata() {
		return createInvitation(ctx, localInvitations{dir: filepath.Join(cfg.DataDir, "metadata")}, base, email, admin, cfg.InvitationTTL, now)
	}
	store, err := openMongoStore(ctx, cfg.MongoURI, cfg.MongoDB, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", Invitation{}, err
	}
	defer store.Close(context.Background())
	return createInvitation(ctx, store, base, email, admin, cfg.InvitationTTL, now)
}

// localInvitations is the one part of the local store `dropp invite`
// uses, without opening the store (whose lock a running server holds).
type localInvitations struct {
	Store // nil: only InsertInvitation is called
	dir   string
}

func (l localInvitations) InsertInvitation(ctx context.Context, inv Invitation) error {
	return writeLocalInvitation(l.dir, inv)
}
