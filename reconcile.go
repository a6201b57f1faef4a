package main

// `dropp reconcile [-delete]`: an operator command that lists the objects
// under the user prefixes of the bucket (or of the local object store) and
// reports those that no file record names and that are older than a day,
// deleting them only with -delete. The day leaves alone an upload whose
// record is being written or deleted right now: the server writes a record
// before its object exists and deletes the object before its record.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// usersPrefix is where every object key starts (see objectKey).
const usersPrefix = "users/"

// orphanMinAge is how old an object without a record must be to be reported.
const orphanMinAge = 24 * time.Hour

// reconcileSummary counts what a reconciliation found.
type reconcileSummary struct {
	objects, orphans, deleted int
	orphanBytes               int64
}

// runReconcile runs `dropp reconcile`: args are what follows the word.
func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("dropp reconcile", flag.ContinueOnError)
	flags.SetOutput(stderr)
	del := flags.Bool("delete", false, "delete the objects without a record (default: only report them)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if flags.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: dropp reconcile takes only -delete", flags.Arg(0))}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := ensureSecretKey(cfg); err != nil {
		return err
	}
	app, err := openBackends(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer app.close()
	sum, err := reconcile(ctx, app.store, app.objects, time.Now(), *del, stdout)
	fmt.Fprintf(stdout, "reconcile: %d objects under %s, %d without a record and older than a day (%s), %d deleted\n",
		sum.objects, usersPrefix, sum.orphans, humanBytes(sum.orphanBytes), sum.deleted)
	return err
}

// reconcile walks the objects under usersPrefix and reports (and with del
// deletes) those older than orphanMinAge at now that no record names.
func reconcile(ctx context.Context, store Store, objects ObjectStore, now time.Time, del bool, out io.Writer) (reconcileSummary, error) {
	var sum reconcileSummary
	lister, ok := objects.(objectLister)
	if !ok {
		return sum, errors.New("this object store cannot list its objects")
	}
	err := lister.ListObjects(ctx, usersPrefix, func(o listedObject) error {
		sum.objects++
		if now.Sub(o.Modified) < orphanMinAge {
			return nil
		}
		known, err := store.HasObjectKey(ctx, o.Key)
		if err != nil || known {
			return err
		}
		sum.orphans++
		sum.orphanBytes += o.Size
		action := "orphan"
		if del {
			if err := objects.Delete(ctx, o.Key); err != nil {
				return err
			}
			sum.deleted++
			action = "deleted"
		}
		fmt.Fprintf(out, "%s %s %d bytes, modified %s\n", action, o.Key, o.Size, o.Modified.UTC().Format(time.RFC3339))
		return nil
	})
	return sum, err
}
