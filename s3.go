package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3OpTimeout bounds each call to S3 that the server itself makes (HEAD,
// DELETE, readiness); presigning is local and needs no network.
const s3OpTimeout = 5 * time.Second

// s3Objects is the ObjectStore backed by an S3 bucket (AWS or compatible).
// The client and presigner are built once and shared by all requests.
type s3Objects struct {
	bucket  string
	client  *s3.Client
	presign *s3.PresignClient
}

// newS3Objects builds the S3 client from the configuration. Credentials come
// from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when given (including from
// .env), otherwise from the SDK's standard chain (profile, SSO, instance role).
func newS3Objects(ctx context.Context, cfg *config) (*s3Objects, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.AWSAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AWSAccessKey, cfg.AWSSecretKey, cfg.AWSSessionTok)))
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
	return &s3Objects{bucket: cfg.Bucket, client: client, presign: s3.NewPresignClient(client)}, nil
}

// PresignUpload returns a POST form whose policy pins the bucket, the exact
// key, the size range and (when given) the exact Content-Type. The SDK adds
// the bucket, key and credential conditions; the rest are added here.
func (o *s3Objects) PresignUpload(ctx context.Context, p UploadPolicy) (UploadForm, error) {
	conditions := []any{[]any{"content-length-range", p.MinSize, p.MaxSize}}
	input := &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(p.Key)}
	if p.ContentType != "" {
		conditions = append(conditions, map[string]string{"Content-Type": p.ContentType})
	}
	req, err := o.presign.PresignPostObject(ctx, input, func(opts *s3.PresignPostOptions) {
		opts.Expires = time.Until(p.Expires)
		opts.Conditions = conditions
	})
	if err != nil {
		return UploadForm{}, fmt.Errorf("presign upload: %w", err)
	}
	if p.ContentType != "" {
		req.Values["Content-Type"] = p.ContentType
	}
	return UploadForm{URL: req.URL, Fields: req.Values, ExpiresAt: p.Expires}, nil
}

// PresignDownload returns a GET URL that makes S3 answer with an attachment
// disposition and the recorded content type.
func (o *s3Objects) PresignDownload(ctx context.Context, d DownloadRequest) (string, error) {
	input := &s3.GetObjectInput{
		Bucket:                     aws.String(o.bucket),
		Key:                        aws.String(d.Key),
		ResponseContentDisposition: aws.String(contentDisposition(d.Filename)),
	}
	if d.ContentType != "" {
		input.ResponseContentType = aws.String(d.ContentType)
	}
	req, err := o.presign.PresignGetObject(ctx, input, s3.WithPresignExpires(time.Until(d.Expires)))
	if err != nil {
		return "", fmt.Errorf("presign download: %w", err)
	}
	return req.URL, nil
}

// Head asks S3 for the object's real size and ETag.
func (o *s3Objects) Head(ctx context.Context, key string) (ObjectInfo, error) {
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
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := o.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("%w: s3 delete: %v", ErrUnavailable, err)
	}
	return nil
}

// Ready checks that the bucket exists and the credentials reach it.
func (o *s3Objects) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := o.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.bucket)})
	return err
}
