package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3OpTimeout bounds each call to S3 that the server itself makes (HEAD,
// DELETE, readiness); presigning is local and needs no network.
const s3OpTimeout = 5 * time.Second

// s3Objects is the ObjectStore backed by an S3 bucket (AWS or compatible).
// The client and presigners are built once and shared by all requests.
//
// Whether the bucket can be used is checked at start and by /readyz, never
// per request: calls read the outcome of the last check (one atomic load)
// and, while it is a problem, answer it as a 503 until a background recheck
// finds the bucket usable again.
type s3Objects struct {
	bucket  string
	client  *s3.Client
	presign *s3.PresignClient
	signer  *s3Signer // presigns uploads and downloads; nil: the SDK does (see newS3Signer)
	creds   aws.CredentialsProvider
	log     *slog.Logger
	problem atomic.Pointer[s3Problem] // nil while the bucket is usable
	recheck *backgroundRetry          // runs while there is a problem
	readyAt atomic.Int64              // when Ready last asked S3, in Unix nanoseconds
}

// readyReuse is how long Ready answers from its last check: /readyz is
// public, and a flood of probes must not become a flood of S3 requests.
const readyReuse = time.Second

// newS3Objects builds the S3 client from the configuration. Credentials come
// from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when given (including from
// .env), otherwise from the SDK's standard chain (profile, SSO, instance role).
// It does not contact S3: see check.
func newS3Objects(ctx context.Context, cfg *config, logger *slog.Logger) (*s3Objects, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region), awsconfig.WithLogger(smithyLogger{logger})}
	if cfg.AWSAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AWSAccessKey, cfg.AWSSecretKey, cfg.AWSSessionToken)))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.S3Endpoint)
		}
		o.UsePathStyle = cfg.S3PathStyle
	})
	o := &s3Objects{
		bucket:  cfg.Bucket,
		client:  client,
		presign: s3.NewPresignClient(client),
		creds:   awsCfg.Credentials,
		log:     logger,
		recheck: newBackgroundRetry(),
	}
	if o.signer, err = newS3Signer(ctx, client, cfg.Bucket); err != nil {
		logger.Warn("presigning through the SDK, which costs more CPU per upload and download", "bucket", cfg.Bucket, "why", err)
	}
	return o, nil
}

// s3Problem is why the bucket cannot be used: a cause any client may read
// and a hint for the operator, who sees both on the start-up line.
type s3Problem struct {
	cause, hint string
	err         error // the SDK's error, for the log
}

// unavailable is the problem as calls answer it: a 503 naming the cause.
func (p *s3Problem) unavailable() error {
	return &unavailableError{reason: "object store: " + p.cause, err: p.err}
}

// noCredentials is the problem of an SDK that finds no usable credentials.
func noCredentials(err error) *s3Problem {
	return &s3Problem{cause: "no credentials", err: err,
		hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the SDK a profile or an instance role"}
}

// bucketProblem names why S3 refused a request on the bucket. The SDK
// reports a request that never got an answer as status 0.
func bucketProblem(bucket string, err error) *s3Problem {
	var resp *awshttp.ResponseError
	status := 0
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	switch status {
	case 0:
		return &s3Problem{cause: "endpoint unreachable", hint: "check AWS_ENDPOINT_URL_S3, AWS_REGION and the network", err: err}
	case http.StatusForbidden:
		return &s3Problem{cause: "access denied", hint: "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy", err: err}
	case http.StatusNotFound:
		return &s3Problem{cause: fmt.Sprintf("no such bucket %q", bucket), hint: "create it or correct AWS_S3_BUCKET", err: err}
	}
	return &s3Problem{cause: fmt.Sprintf("S3 answered HTTP %d", status), hint: "check AWS_REGION and AWS_ENDPOINT_URL_S3", err: err}
}

// check asks S3, within s3OpTimeout, whether the bucket can be used, and
// records the answer for every call that follows, unless the caller cut the
// check short (a client that hung up, a shutdown): that says nothing of S3.
func (o *s3Objects) check(ctx context.Context) *s3Problem {
	opCtx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	var p *s3Problem
	if _, err := o.creds.Retrieve(opCtx); err != nil {
		p = noCredentials(err)
	} else if _, err := o.client.HeadBucket(opCtx, &s3.HeadBucketInput{Bucket: aws.String(o.bucket)}); err != nil {
		p = bucketProblem(o.bucket, err)
	}
	if ctx.Err() == nil {
		o.record(p)
	}
	return p
}

// record makes p (nil: no problem) what calls answer. A problem starts the
// background recheck, which ends once a check finds the bucket usable.
func (o *s3Objects) record(p *s3Problem) {
	old := o.problem.Swap(p)
	switch {
	case p != nil && old == nil:
		o.log.Warn("object store cannot be used; requests get 503 until it can", "bucket", o.bucket, "cause", p.cause, "hint", p.hint, "err", p.err)
	case p == nil && old != nil:
		o.log.Info("object store usable again", "bucket", o.bucket)
	}
	if p != nil {
		o.recheck.start(o.fine, func(ctx context.Context) { o.check(ctx) })
	}
}

// fine reports whether the last check found the bucket usable.
func (o *s3Objects) fine() bool { return o.problem.Load() == nil }

// usable answers the recorded problem, if any, without asking S3.
func (o *s3Objects) usable() error {
	if p := o.problem.Load(); p != nil {
		return p.unavailable()
	}
	return nil
}

// credentials are the SDK's current credentials (cached by the SDK, renewed
// when they expire). Having none (none configured, an expired SSO session,
// an instance role that does not answer) is a 503 naming that cause.
func (o *s3Objects) credentials(ctx context.Context) (aws.Credentials, error) {
	creds, err := o.creds.Retrieve(ctx)
	if err != nil {
		p := noCredentials(err)
		o.record(p)
		return aws.Credentials{}, p.unavailable()
	}
	return creds, nil
}

// presignFailed maps a failed SDK presign. Presigning is local and fails
// only when the SDK cannot get credentials: a 503 naming that cause, not a
// 500.
func (o *s3Objects) presignFailed(ctx context.Context, op string, err error) error {
	if _, cerr := o.credentials(ctx); cerr != nil {
		return cerr
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Close stops the background recheck, waiting for it.
func (o *s3Objects) Close() error {
	o.recheck.stop()
	return nil
}

// PresignUpload returns a POST form whose policy pins the bucket, the exact
// key, the size range and (when given) the exact Content-Type.
func (o *s3Objects) PresignUpload(ctx context.Context, p UploadPolicy) (UploadForm, error) {
	if err := o.usable(); err != nil {
		return UploadForm{}, err
	}
	if o.signer == nil {
		req, err := sdkPresignPost(ctx, o.presign, o.bucket, p)
		if err != nil {
			return UploadForm{}, o.presignFailed(ctx, "presign upload", err)
		}
		return UploadForm{URL: req.URL, Fields: req.Values, ExpiresAt: p.Expires}, nil
	}
	creds, err := o.credentials(ctx)
	if err != nil {
		return UploadForm{}, err
	}
	return o.signer.presignPost(creds, time.Now(), p), nil
}

// PresignPut returns a PUT URL for a whole object or for one part. Setting
// ContentLength makes the presigner sign the Content-Length header, so S3
// refuses a body of any other size; a whole object's Content-Type is signed
// the same way.
func (o *s3Objects) PresignPut(ctx context.Context, p PutRequest) (PresignedPut, error) {
	if err := o.usable(); err != nil {
		return PresignedPut{}, err
	}
	headers := map[string]string{"Content-Length": strconv.FormatInt(p.Size, 10)}
	var req *v4.PresignedHTTPRequest
	var err error
	expires := s3.WithPresignExpires(time.Until(p.Expires))
	if p.UploadID != "" {
		req, err = o.presign.PresignUploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(o.bucket), Key: aws.String(p.Key), UploadId: aws.String(p.UploadID),
			PartNumber: aws.Int32(int32(p.PartNumber)), ContentLength: aws.Int64(p.Size),
		}, expires)
	} else {
		input := &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(p.Key), ContentLength: aws.Int64(p.Size)}
		if p.ContentType != "" {
			input.ContentType = aws.String(p.ContentType)
			headers["Content-Type"] = p.ContentType
		}
		req, err = o.presign.PresignPutObject(ctx, input, expires)
	}
	if err != nil {
		return PresignedPut{}, o.presignFailed(ctx, "presign put", err)
	}
	return PresignedPut{Method: http.MethodPut, URL: req.URL, Headers: headers, ExpiresAt: p.Expires}, nil
}

// CreateMultipart starts a multipart upload. S3 keeps it until it is
// completed or aborted: the README asks for a lifecycle rule that aborts
// incomplete uploads after MULTIPART_TTL_SECONDS.
func (o *s3Objects) CreateMultipart(ctx context.Context, key, contentType string, expires time.Time) (string, error) {
	if err := o.usable(); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	input := &s3.CreateMultipartUploadInput{Bucket: aws.String(o.bucket), Key: aws.String(key)}
	if contentType != "" {
		input.ContentType = aws.String(contentType)
	}
	out, err := o.client.CreateMultipartUpload(ctx, input)
	if err != nil {
		return "", fmt.Errorf("%w: s3 create multipart upload: %v", ErrUnavailable, err)
	}
	return aws.ToString(out.UploadId), nil
}

// ListParts lists every stored part, a page of up to 1,000 at a time.
func (o *s3Objects) ListParts(ctx context.Context, key, uploadID string) ([]PartInfo, error) {
	if err := o.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	input := &s3.ListPartsInput{Bucket: aws.String(o.bucket), Key: aws.String(key), UploadId: aws.String(uploadID)}
	var parts []PartInfo
	for pages := s3.NewListPartsPaginator(o.client, input); pages.HasMorePages(); {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s3UploadErr("list parts", err)
		}
		for _, p := range page.Parts {
			parts = append(parts, PartInfo{PartNumber: int(aws.ToInt32(p.PartNumber)), Size: aws.ToInt64(p.Size),
				ETag: strings.Trim(aws.ToString(p.ETag), `"`)})
		}
	}
	return parts, nil
}

// CompleteMultipart joins the parts, in order, into the object. S3 may
// take minutes for a large object: the caller's context bounds the call
// (see completeTime), not s3OpTimeout.
func (o *s3Objects) CompleteMultipart(ctx context.Context, key, uploadID string, parts []PartInfo) error {
	if err := o.usable(); err != nil {
		return err
	}
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.PartNumber)), ETag: aws.String(`"` + p.ETag + `"`)}
	}
	_, err := o.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(o.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	return s3UploadErr("complete multipart upload", err)
}

// AbortMultipart discards the upload and every part stored for it.
func (o *s3Objects) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := o.usable(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := o.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(o.bucket), Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err = s3UploadErr("abort multipart upload", err); errors.Is(err, ErrUploadNotFound) {
		return nil
	}
	return err
}

// s3UploadErr maps S3's NoSuchUpload to ErrUploadNotFound, and anything
// else to ErrUnavailable; nil stays nil.
func s3UploadErr(op string, err error) error {
	// ListParts and CompleteMultipartUpload do not model NoSuchUpload as a
	// type: the code is what tells it.
	var coded interface{ ErrorCode() string }
	switch {
	case err == nil:
		return nil
	case errors.As(err, &coded) && coded.ErrorCode() == "NoSuchUpload":
		return ErrUploadNotFound
	case errors.As(err, &coded) && slices.Contains([]string{"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}, coded.ErrorCode()):
		return ErrInvalidParts
	}
	return fmt.Errorf("%w: s3 %s: %v", ErrUnavailable, op, err)
}

// PresignDownload returns a GET URL that makes S3 answer with an attachment
// disposition and the recorded content type.
func (o *s3Objects) PresignDownload(ctx context.Context, d DownloadRequest) (string, error) {
	if err := o.usable(); err != nil {
		return "", err
	}
	if o.signer == nil {
		req, err := sdkPresignGet(ctx, o.presign, o.bucket, d)
		if err != nil {
			return "", o.presignFailed(ctx, "presign download", err)
		}
		return req.URL, nil
	}
	creds, err := o.credentials(ctx)
	if err != nil {
		return "", err
	}
	return o.signer.presignGet(creds, time.Now(), d)
}

// Head asks S3 for the object's real size and ETag.
func (o *s3Objects) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if err := o.usable(); err != nil {
		return ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	out, err := o.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)})
	if err != nil {
		var nf *types.NotFound
		var nsk *types.NoSuchKey
		if errors.As(err, &nf) || errors.As(err, &nsk) {
			return ObjectInfo{}, ErrObjectNotFound
		}
		return ObjectInfo{}, fmt.Errorf("%w: s3 head: %v", ErrUnavailable, err)
	}
	return ObjectInfo{Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// Delete removes the object; S3 answers success for a missing key.
func (o *s3Objects) Delete(ctx context.Context, key string) error {
	if err := o.usable(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := o.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)})
	var apiErr interface{ ErrorCode() string } // smithy.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound"):
		// AWS answers success for a missing key; some compatible servers
		// (versitygw, when two deletes of one key race) answer NoSuchKey.
		// Either way the object is gone, which is what was asked.
		return nil
	case err != nil:
		return fmt.Errorf("%w: s3 delete: %v", ErrUnavailable, err)
	}
	return nil
}

// Ready checks that the credentials reach the bucket, for /readyz, and
// records the answer, so a bucket that went away also closes the API. It
// asks S3 at most once per readyReuse; calls in between get the last answer.
func (o *s3Objects) Ready(ctx context.Context) error {
	now := time.Now().UnixNano()
	last := o.readyAt.Load()
	p := o.problem.Load()
	if now-last >= int64(readyReuse) && o.readyAt.CompareAndSwap(last, now) {
		p = o.check(ctx)
	}
	if p != nil {
		return p.unavailable()
	}
	return nil
}

// browserOrigin is the origin of the URLs presigned for this bucket, which
// the web page's CSP must let it send bytes to: one presigned GET, made
// once at start, says it exactly (endpoint, path style, region).
func (o *s3Objects) browserOrigin() string {
	req, err := o.presign.PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String("origin")})
	if err != nil {
		return ""
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// corsProblem says why a browser at origin ("" when it is not known at
// start: any origin will do) cannot upload to the bucket, or "" when a
// CORS rule of the bucket lets it POST and PUT and read the ETag.
func (o *s3Objects) corsProblem(ctx context.Context, origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		origin = u.Scheme + "://" + u.Host // PUBLIC_URL may carry a path
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	out, err := o.client.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(o.bucket)})
	var apiErr interface{ ErrorCode() string } // smithy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchCORSConfiguration":
		return "the bucket has no CORS rule, so the web page cannot upload (see CORS in the README)"
	case err != nil:
		o.log.Warn("reading the bucket's CORS rules", "err", err)
		return "the bucket's CORS rules could not be read, so the web page may not upload (see CORS in the README)"
	}
	for _, rule := range out.CORSRules {
		if corsRuleAllows(rule, origin) {
			return ""
		}
	}
	who := "Dropp's origin"
	if origin != "" {
		who = origin
	}
	return "no CORS rule of the bucket lets " + who + " POST and PUT and read ETag, so the web page cannot upload (see CORS in the README)"
}

// corsRuleAllows tells whether rule lets origin POST and PUT and exposes
// ETag, which multipart uploads read.
func corsRuleAllows(rule types.CORSRule, origin string) bool {
	originOK := slices.ContainsFunc(rule.AllowedOrigins, func(pattern string) bool {
		prefix, suffix, wild := strings.Cut(pattern, "*")
		if !wild {
			return origin == "" || strings.EqualFold(pattern, origin)
		}
		return origin == "" || len(origin) >= len(prefix)+len(suffix) && strings.HasPrefix(origin, prefix) && strings.HasSuffix(origin, suffix)
	})
	etagOK := slices.ContainsFunc(rule.ExposeHeaders, func(h string) bool { return strings.EqualFold(h, "ETag") })
	return originOK && etagOK && slices.Contains(rule.AllowedMethods, "POST") && slices.Contains(rule.AllowedMethods, "PUT")
}

// ListObjects lists the bucket's objects under prefix, a page at a time.
func (o *s3Objects) ListObjects(ctx context.Context, prefix string, each func(listedObject) error) error {
	pages := s3.NewListObjectsV2Paginator(o.client, &s3.ListObjectsV2Input{Bucket: aws.String(o.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := o.listPage(ctx, pages)
		if err != nil {
			return err
		}
		for _, obj := range page.Contents {
			err := each(listedObject{Key: aws.ToString(obj.Key), Size: aws.ToInt64(obj.Size), Modified: aws.ToTime(obj.LastModified)})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// listPage reads the next page of a listing within s3OpTimeout.
func (o *s3Objects) listPage(ctx context.Context, pages *s3.ListObjectsV2Paginator) (*s3.ListObjectsV2Output, error) {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	page, err := pages.NextPage(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: s3 list objects: %v", ErrUnavailable, err)
	}
	return page, nil
}
