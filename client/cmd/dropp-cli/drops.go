package main

// The drop commands: one link to several files (dropp/client's drops.go).

import (
	"context"
	"time"

	"dropp/client"
)

func (c *cli) dropCreate(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	opt := client.ShareOptions{ExpiresIn: time.Duration(c.expires), MaxDownloads: c.maxDownloads, AllowPreview: c.allowPreview}
	sh, err := cl.CreateDrop(ctx, c.args, opt)
	return c.print(sh, err)
}

func (c *cli) dropAdd(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	sh, err := cl.AddDropFiles(ctx, c.args[0], c.args[1:])
	return c.print(sh, err)
}

func (c *cli) dropRemove(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.RemoveDropFile(ctx, c.args[0], c.args[1])
}

func (c *cli) dropList(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	shares, err := cl.ListAllShares(ctx)
	return c.print(shares, err)
}
