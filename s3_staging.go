package main

// Staged single uploads on S3 (see stagingObjects in objects.go): the
// server-side copy that completes one, and the sweep of staged objects
// whose forms have expired.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Promote copies the staged object to its file's key within S3: no byte
// passes through the server. CopySourceIfMatch pins the copy to the object
// the caller read (see promotedKey for why `to` names its ETag). S3 copies
// up to 5 GiB in one request, the most a single upload may carry
// (maxSingleBytes). The caller's context bounds the copy, which takes time
// in proportion to the size (see completeTime).
func (o *s3Objects) Promote(ctx context.Context, from, to, etag string) (ObjectInfo, error) {
	if err := o.usable(); err != nil {
		return ObjectInfo{}, err
	}
	_, err := o.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(o.bucket), Key: aws.String(to),
		CopySource:        aws.String(o.bucket + "/" + from), // keys are [A-Za-z0-9._/-]: nothing to escape
		CopySourceIfMatch: aws.String(`"` + etag + `"`),
	})
	var coded interface{ ErrorCode() string }
	switch {
	case err == nil:
	case errors.As(err, &coded) && (coded.ErrorCode() == "NoSuchKey" || coded.ErrorCode() == "NotFound"):
		return ObjectInfo{}, ErrObjectNotFound
	case errors.As(err, &coded) && coded.ErrorCode() == "PreconditionFailed":
		return ObjectInfo{}, errStagedChanged
	default:
		return ObjectInfo{}, fmt.Errorf("%w: s3 copy: %v", ErrUnavailable, err)
	}
	return o.Head(ctx, to)
}

// SweepStaged lists the staged objects in key order, which is the order of
// their forms' expiry, and deletes them up to the first whose form expired
// at or after `before`.
func (o *s3Objects) SweepStaged(ctx context.Context, before time.Time) (int, error) {
	if err := o.usable(); err != nil {
		return 0, err
	}
	n := 0
	err := o.ListObjects(ctx, stagingPrefix, func(obj listedObject) error {
		if expires, ok := stagingExpiry(obj.Key); ok && !expires.Before(before) {
			return errStopListing
		}
		// A key not in the staging form was never made by Dropp's
		// server; it is swept too: no form names it.
		if err := o.Delete(ctx, obj.Key); err != nil {
			return err
		}
		n++
		return nil
	})
	if errors.Is(err, errStopListing) {
		err = nil
	}
	return n, err
}

// errStopListing ends a ListObjects walk early, as no failure.
var errStopListing = errors.New("stop listing")
