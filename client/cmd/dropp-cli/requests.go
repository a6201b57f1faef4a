package main

// The file request commands: the owner's (create, list, close, reopen,
// delete) and the sender's (send, which needs no sign-in but for a
// members-only request).

import (
	"context"
	"flag"
	"strings"
	"time"

	"dropp/client"
)

// requestFlags are the flags of request create and request send.
type requestFlags struct {
	message  string
	expires  lifetime
	maxFiles int64
	maxBytes int64
	types    string
	name     string
	note     string
}

func requestCreateFlags(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&c.req.message, "message", "", "")
	fs.Var(&c.req.expires, "expires", "")
	fs.Int64Var(&c.req.maxFiles, "max-files", 0, "")
	fs.Int64Var(&c.req.maxBytes, "max-bytes", 0, "")
	fs.StringVar(&c.req.types, "types", "", "")
	fs.StringVar(&c.password, "password", "", "")
	fs.BoolVar(&c.membersOnly, "members-only", false, "")
}

func requestSendFlags(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&c.req.name, "name", "", "")
	fs.StringVar(&c.req.note, "note", "", "")
	fs.StringVar(&c.password, "password", "", "")
}

func (c *cli) requestCreate(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	password, err := c.sharePassword() // as share create's -password
	if err != nil {
		return err
	}
	opt := client.RequestOptions{Title: c.args[0], Message: c.req.message, ExpiresIn: time.Duration(c.req.expires),
		MaxFiles: c.req.maxFiles, MaxBytes: c.req.maxBytes, Password: password, MembersOnly: c.membersOnly}
	if c.req.types != "" {
		opt.ContentTypes = strings.Split(c.req.types, ",")
	}
	fr, err := cl.CreateRequest(ctx, opt)
	return c.print(fr, err)
}

func (c *cli) requestList(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.ListRequests(ctx)
	return c.print(list, err)
}

func (c *cli) requestClose(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	fr, err := cl.CloseRequest(ctx, c.args[0])
	return c.print(fr, err)
}

func (c *cli) requestReopen(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	fr, err := cl.ReopenRequest(ctx, c.args[0])
	return c.print(fr, err)
}

func (c *cli) requestDelete(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.DeleteRequest(ctx, c.args[0])
}

// requestSend sends through a file request link: to a link of DROPP_URL's
// server as the signed-in user (DROPP_TOKEN, or the saved token), if any,
// so that a members-only request takes the file; else as a stranger. -password gives a protected request's
// password, as share create's (- reads it from stdin).
func (c *cli) requestSend(ctx context.Context) error {
	ctype := ""
	if len(c.args) == 3 {
		ctype = c.args[2]
	}
	password, err := c.sharePassword()
	if err != nil {
		return err
	}
	from := client.Sender{Name: c.req.name, Note: c.req.note, Password: password}
	sender := client.New(c.base, signedInToken()) // its token goes to a link of this server only
	p := newProgress(c.stderr, "upload")
	f, err := sender.SendToRequest(ctx, c.args[0], c.args[1], ctype, from, p.report)
	p.finish()
	return c.print(f, err)
}
