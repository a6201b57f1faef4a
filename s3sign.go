package main

// The fast S3 presigner. The SDK's PresignGetObject and PresignPostObject
// run a whole middleware stack and resolve the endpoint on every call, which
// was most of the CPU that POST /upload/ and GET /download/{id} cost. Nothing
// in that work depends on the request but the key, the response overrides,
// the credentials and the clock, so s3Signer asks the SDK once, at start,
// where the bucket's objects live and how it signs for them, and then writes
// the same SigV4 presigned URLs and POST forms itself: credentials still come
// from the SDK's provider on every call, the signing key is derived once per
// day. At start it also presigns a probe both ways and compares the results
// byte for byte; should they ever differ (an SDK change, an S3 Express or
// multi-region bucket), Dropp logs why and presigns through the SDK instead.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SigV4 as S3 presigning uses it.
const (
	sigV4Algorithm   = "AWS4-HMAC-SHA256"
	sigV4DateLayout  = "20060102"
	sigV4TimeLayout  = "20060102T150405Z"
	sigV4Terminator  = "aws4_request"
	s3UnsignedBody   = "UNSIGNED-PAYLOAD" // presigned S3 requests do not sign the body
	s3ProbeKey       = "probe dir/ü+%?#&=~!*'() x"
	s3ProbeAccessKey = "DROPPPROBEACCESSKEY"
	s3ProbeSecret    = "dropp/probe+secret"
	s3ProbeToken     = "dropp/probe+session=token"
)

// s3Signer presigns GET URLs and POST upload forms for one bucket as the
// SDK's presigner does, from the endpoint the SDK resolved once at start.
type s3Signer struct {
	bucket     string
	objectBase string         // every object URL up to the key, e.g. "https://b.s3.eu-west-1.amazonaws.com/"
	uriBase    string         // its escaped path, where each canonical URI starts, e.g. "/"
	host       string         // the Host header S3 will see, which presigned URLs sign
	fixedQuery []s3QueryParam // escaped, in canonical order: what the SDK adds to every GET (x-id, X-Amz-Checksum-Mode)
	postURL    string         // where upload forms are posted
	region     string         // of the credential scope
	service    string         // of the credential scope: "s3"
	key        atomic.Pointer[s3SigningKey]
}

// newS3Signer learns from the SDK's presigner on client, with made-up
// credentials and no network, where presigned URLs go and how their
// credential scope reads, and checks that its own output for a probe is the
// SDK's, byte for byte.
func newS3Signer(ctx context.Context, client *s3.Client, bucket string) (*s3Signer, error) {
	creds := aws.Credentials{AccessKeyID: s3ProbeAccessKey, SecretAccessKey: s3ProbeSecret, SessionToken: s3ProbeToken}
	probe := s3.NewPresignClient(client, s3OfflineWith(creds))
	d, p := s3ProbeRequests(time.Now())
	get, err := sdkPresignGet(ctx, probe, bucket, d)
	if err != nil {
		return nil, fmt.Errorf("the SDK cannot presign a GET: %w", err)
	}
	post, err := sdkPresignPost(ctx, probe, bucket, p)
	if err != nil {
		return nil, fmt.Errorf("the SDK cannot presign a POST: %w", err)
	}
	s, err := s3SignerFromSDK(bucket, get, post)
	if err != nil {
		return nil, err
	}
	if err := s.matchGet(get.URL, creds, d); err != nil {
		return nil, err
	}
	if err := s.matchPost(post, creds, p); err != nil {
		return nil, err
	}
	return s, nil
}

// sdkPresignGet is the SDK's presigned GET of d.
func sdkPresignGet(ctx context.Context, presign *s3.PresignClient, bucket string, d DownloadRequest) (*v4.PresignedHTTPRequest, error) {
	input := &s3.GetObjectInput{
		Bucket:                     aws.String(bucket),
		Key:                        aws.String(d.Key),
		ResponseContentDisposition: aws.String(d.disposition()),
	}
	if d.ContentType != "" {
		input.ResponseContentType = aws.String(d.ContentType)
	}
	return presign.PresignGetObject(ctx, input, s3.WithPresignExpires(time.Until(d.Expires)))
}

// sdkPresignPost is the SDK's presigned POST of p. The SDK adds the bucket,
// key and credential conditions; the size range and Content-Type conditions
// and the Content-Type field are added here.
func sdkPresignPost(ctx context.Context, presign *s3.PresignClient, bucket string, p UploadPolicy) (*s3.PresignedPostRequest, error) {
	conditions := []any{[]any{"content-length-range", p.MinSize, p.MaxSize}}
	input := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(p.Key)}
	if p.ContentType != "" {
		conditions = append(conditions, map[string]string{"Content-Type": p.ContentType})
	}
	req, err := presign.PresignPostObject(ctx, input, func(opts *s3.PresignPostOptions) {
		opts.Expires = time.Until(p.Expires)
		opts.Conditions = conditions
	})
	if err != nil {
		return nil, err
	}
	if p.ContentType != "" {
		req.Values["Content-Type"] = p.ContentType
	}
	return req, nil
}

// s3ProbeRequests are a download and an upload whose key and overrides need
// every kind of escaping, so that the start-up comparison covers it.
func s3ProbeRequests(now time.Time) (DownloadRequest, UploadPolicy) {
	expires := now.Add(time.Hour)
	return DownloadRequest{Key: s3ProbeKey, Filename: `a "b" ü%20.txt`, ContentType: "text/plain; charset=utf-8", Expires: expires},
		UploadPolicy{Key: s3ProbeKey, MinSize: 1, MaxSize: 2, ContentType: "text/plain", Expires: expires}
}

// s3OfflineWith makes a presign client sign with creds and never reach the
// network: an S3 Express bucket would otherwise open a session there. (The
// client options PresignPostObject takes per call are ignored by the SDK.)
func s3OfflineWith(creds aws.Credentials) func(*s3.PresignOptions) {
	return func(po *s3.PresignOptions) {
		po.ClientOptions = append(po.ClientOptions, func(o *s3.Options) {
			o.Credentials = credentials.StaticCredentialsProvider{Value: creds}
			o.HTTPClient = s3NoNetwork{}
			o.Retryer = aws.NopRetryer{}
		})
	}
}

// s3NoNetwork is an HTTP client that refuses every request.
type s3NoNetwork struct{}

func (s3NoNetwork) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("presign probe: no network")
}

// s3SignerFromSDK reads the signer's layout off the SDK's presigned probe
// GET (of s3ProbeKey) and POST.
func s3SignerFromSDK(bucket string, get *v4.PresignedHTTPRequest, post *s3.PresignedPostRequest) (*s3Signer, error) {
	base, query, _ := strings.Cut(get.URL, "?")
	objectBase, ok := strings.CutSuffix(base, string(appendS3Escaped(nil, s3ProbeKey, true)))
	if !ok || !strings.HasSuffix(objectBase, "/") {
		return nil, fmt.Errorf("the SDK's presigned GET %q does not end in the key", base)
	}
	u, err := url.Parse(objectBase)
	if err != nil {
		return nil, fmt.Errorf("the SDK's presigned GET: %w", err)
	}
	scope := strings.Split(post.Values["X-Amz-Credential"], "/")
	if len(scope) != 5 || scope[4] != sigV4Terminator {
		return nil, fmt.Errorf("the SDK's presigned POST has credential %q", post.Values["X-Amz-Credential"])
	}
	return &s3Signer{bucket: bucket, objectBase: objectBase, uriBase: u.EscapedPath(), host: get.SignedHeader.Get("Host"),
		fixedQuery: fixedGetParams(query), postURL: post.URL, region: scope[2], service: scope[3]}, nil
}

// fixedGetParams are the parameters of the SDK's presigned GET query that
// presignGet does not set itself: those the SDK adds, from the client's
// configuration, to every GET (x-id=GetObject; X-Amz-Checksum-Mode=ENABLED
// unless response checksum validation is off).
func fixedGetParams(query string) []s3QueryParam {
	own := map[string]bool{"X-Amz-Signature": true}
	for _, p := range getParams("", "", "", "", DownloadRequest{}) {
		own[p.name] = true
	}
	var fixed []s3QueryParam
	for pair := range strings.SplitSeq(query, "&") {
		name, value, _ := strings.Cut(pair, "=")
		if !own[name] {
			fixed = append(fixed, s3QueryParam{name, value})
		}
	}
	return fixed
}

// matchGet checks that presignGet writes sdkURL, the SDK's presigned GET of
// d with creds, when given the SDK's signing time and expiry.
func (s *s3Signer) matchGet(sdkURL string, creds aws.Credentials, d DownloadRequest) error {
	u, err := url.Parse(sdkURL)
	if err != nil {
		return fmt.Errorf("the SDK's presigned GET: %w", err)
	}
	at, err := time.Parse(sigV4TimeLayout, u.Query().Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("the SDK's presigned GET: %w", err)
	}
	ttl, err := strconv.Atoi(u.Query().Get("X-Amz-Expires"))
	if err != nil {
		return fmt.Errorf("the SDK's presigned GET: %w", err)
	}
	d.Expires = at.Add(time.Duration(ttl) * time.Second)
	ours, err := s.presignGet(creds, at, d)
	if err != nil {
		return err
	}
	if ours != sdkURL {
		return fmt.Errorf("presigned GET differs from the SDK's:\n  SDK:   %s\n  Dropp: %s", sdkURL, ours)
	}
	return nil
}

// matchPost checks that presignPost writes sdk, the SDK's presigned POST
// of p with creds, when given the SDK's signing time and expiry.
func (s *s3Signer) matchPost(sdk *s3.PresignedPostRequest, creds aws.Credentials, p UploadPolicy) error {
	at, err := time.Parse(sigV4TimeLayout, sdk.Values["X-Amz-Date"])
	if err != nil {
		return fmt.Errorf("the SDK's presigned POST: %w", err)
	}
	if p.Expires, err = s3PolicyExpiration(sdk.Values["policy"]); err != nil {
		return fmt.Errorf("the SDK's presigned POST: %w", err)
	}
	ours := s.presignPost(creds, at, p)
	if ours.URL != sdk.URL || !maps.Equal(ours.Fields, sdk.Values) {
		return fmt.Errorf("presigned POST differs from the SDK's:\n  SDK:   %s %v\n  Dropp: %s %v", sdk.URL, sdk.Values, ours.URL, ours.Fields)
	}
	return nil
}

// s3PolicyExpiration reads the expiration of a base64 POST policy.
func s3PolicyExpiration(policy string) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(policy)
	if err != nil {
		return time.Time{}, err
	}
	var doc struct {
		Expiration string `json:"expiration"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339, doc.Expiration)
}

// presignGet writes the presigned GET URL of d, signed at now: the object's
// URL, the canonical query, then the signature.
func (s *s3Signer) presignGet(creds aws.Credentials, now time.Time, d DownloadRequest) (string, error) {
	now = now.UTC()
	ttl := d.Expires.Sub(now) / time.Second
	if ttl < 0 {
		return "", fmt.Errorf("presign download: expiry %v has passed", d.Expires)
	}
	k := s.signingKey(creds, now)
	var dateBuf [len(sigV4TimeLayout)]byte
	amzDate := now.AppendFormat(dateBuf[:0], sigV4TimeLayout)
	buf := make([]byte, 0, 1536)
	buf = append(buf, s.objectBase...)
	keyAt := len(buf)
	buf = appendS3Escaped(buf, d.Key, true)
	keyEnd := len(buf)
	buf = append(buf, '?')
	queryAt := len(buf)
	buf = s.appendGetQuery(buf, getParams(k.credential, string(amzDate), strconv.FormatInt(int64(ttl), 10), creds.SessionToken, d))
	queryEnd := len(buf)

	// The canonical request and the string to sign go after the URL, in the
	// same buffer, which is then cut back to the URL for the signature.
	request := len(buf)
	buf = append(buf, "GET\n"...)
	buf = append(buf, s.uriBase...)
	buf = append(buf, buf[keyAt:keyEnd]...)
	buf = append(buf, '\n')
	buf = append(buf, buf[queryAt:queryEnd]...)
	buf = append(buf, "\nhost:"...)
	buf = append(buf, s.host...)
	buf = append(buf, "\n\nhost\n"+s3UnsignedBody...)
	requestHash := sha256.Sum256(buf[request:])
	toSign := len(buf)
	buf = append(buf, sigV4Algorithm+"\n"...)
	buf = append(buf, amzDate...)
	buf = append(buf, '\n')
	buf = append(buf, k.scope...)
	buf = append(buf, '\n')
	buf = hex.AppendEncode(buf, requestHash[:])
	signature := k.sign(buf[toSign:])

	buf = append(buf[:queryEnd], "&X-Amz-Signature="...)
	buf = hex.AppendEncode(buf, signature[:])
	return string(buf), nil
}

// s3QueryParam is a query parameter of a presigned GET.
type s3QueryParam struct{ name, value string }

// getParams are the query parameters presignGet sets on each GET, not yet
// escaped, in canonical order; an empty one is left out.
func getParams(credential, amzDate, expires, token string, d DownloadRequest) [8]s3QueryParam {
	return [...]s3QueryParam{
		{"X-Amz-Algorithm", sigV4Algorithm},
		{"X-Amz-Credential", credential},
		{"X-Amz-Date", amzDate},
		{"X-Amz-Expires", expires},
		{"X-Amz-Security-Token", token},
		{"X-Amz-SignedHeaders", "host"},
		{"response-content-disposition", d.disposition()},
		{"response-content-type", d.ContentType},
	}
}

// appendGetQuery appends the canonical query string: own, escaped, merged
// in name order with the parameters the SDK adds to every GET of this
// client.
func (s *s3Signer) appendGetQuery(buf []byte, own [8]s3QueryParam) []byte {
	fixed, sep := s.fixedQuery, ""
	for _, p := range own {
		if p.value == "" {
			continue
		}
		for ; len(fixed) > 0 && fixed[0].name < p.name; fixed = fixed[1:] {
			buf = append(appendQueryName(buf, sep, fixed[0].name), fixed[0].value...)
			sep = "&"
		}
		buf = appendS3Escaped(appendQueryName(buf, sep, p.name), p.value, false)
		sep = "&"
	}
	for _, f := range fixed {
		buf = append(appendQueryName(buf, sep, f.name), f.value...)
		sep = "&"
	}
	return buf
}

// appendQueryName appends sep, name and '='.
func appendQueryName(buf []byte, sep, name string) []byte {
	buf = append(buf, sep...)
	buf = append(buf, name...)
	return append(buf, '=')
}

// presignPost writes the upload form of p, signed at now: the policy is the
// JSON the SDK's PresignPostObject writes (its conditions, then Dropp's size
// range and Content-Type, then the key), and the fields are the SDK's plus
// the Content-Type the policy pins.
func (s *s3Signer) presignPost(creds aws.Credentials, now time.Time, p UploadPolicy) UploadForm {
	now = now.UTC()
	k := s.signingKey(creds, now)
	var dateBuf [len(sigV4TimeLayout)]byte
	amzDate := string(now.AppendFormat(dateBuf[:0], sigV4TimeLayout))

	doc := make([]byte, 0, 640)
	doc = append(doc, `{"conditions":[{"X-Amz-Algorithm":"`+sigV4Algorithm+`"},{"bucket":`...)
	doc = appendJSONString(doc, s.bucket)
	doc = append(doc, `},{"X-Amz-Credential":`...)
	doc = appendJSONString(doc, k.credential)
	doc = append(doc, `},{"X-Amz-Date":"`...)
	doc = append(doc, amzDate...)
	doc = append(doc, `"}`...)
	if creds.SessionToken != "" {
		doc = append(doc, `,{"X-Amz-Security-Token":`...)
		doc = appendJSONString(doc, creds.SessionToken)
		doc = append(doc, '}')
	}
	doc = append(doc, `,["content-length-range",`...)
	doc = strconv.AppendInt(doc, p.MinSize, 10)
	doc = append(doc, ',')
	doc = strconv.AppendInt(doc, p.MaxSize, 10)
	doc = append(doc, ']')
	if p.ContentType != "" {
		doc = append(doc, `,{"Content-Type":`...)
		doc = appendJSONString(doc, p.ContentType)
		doc = append(doc, '}')
	}
	doc = append(doc, `,{"key":`...)
	doc = appendJSONString(doc, p.Key)
	doc = append(doc, `}],"expiration":"`...)
	doc = p.Expires.UTC().AppendFormat(doc, time.RFC3339)
	doc = append(doc, `"}`...)
	policy := base64.StdEncoding.AppendEncode(nil, doc)
	signature := k.sign(policy)

	fields := make(map[string]string, 8)
	fields["X-Amz-Algorithm"] = sigV4Algorithm
	fields["X-Amz-Credential"] = k.credential
	fields["X-Amz-Date"] = amzDate
	if creds.SessionToken != "" {
		fields["X-Amz-Security-Token"] = creds.SessionToken
	}
	fields["X-Amz-Signature"] = hex.EncodeToString(signature[:])
	fields["key"] = p.Key
	fields["policy"] = string(policy)
	if p.ContentType != "" {
		fields["Content-Type"] = p.ContentType
	}
	return UploadForm{URL: s.postURL, Fields: fields, ExpiresAt: p.Expires}
}

// s3SigningKey is a SigV4 signing key with what it is valid for: one access
// key and secret, one UTC day, the signer's region and service.
type s3SigningKey struct {
	accessKey, secret string
	date              string // yyyymmdd, UTC
	scope             string // date/region/service/aws4_request
	credential        string // accessKey/scope: X-Amz-Credential
	macs              sync.Pool
}

// signingKey returns the key for creds on now's day, deriving it (four
// HMACs) only when the day or the credentials changed.
func (s *s3Signer) signingKey(creds aws.Credentials, now time.Time) *s3SigningKey {
	var dateBuf [len(sigV4DateLayout)]byte
	date := now.AppendFormat(dateBuf[:0], sigV4DateLayout)
	if k := s.key.Load(); k != nil && k.date == string(date) && k.accessKey == creds.AccessKeyID && k.secret == creds.SecretAccessKey {
		return k
	}
	k := newS3SigningKey(creds, string(date), s.region, s.service)
	s.key.Store(k)
	return k
}

// newS3SigningKey derives the key: HMAC-SHA256 chained from "AWS4"+secret
// through the date, region, service and "aws4_request".
func newS3SigningKey(creds aws.Credentials, date, region, service string) *s3SigningKey {
	key := []byte("AWS4" + creds.SecretAccessKey)
	for _, part := range []string{date, region, service, sigV4Terminator} {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(part))
		key = mac.Sum(nil)
	}
	scope := date + "/" + region + "/" + service + "/" + sigV4Terminator
	k := &s3SigningKey{accessKey: creds.AccessKeyID, secret: creds.SecretAccessKey, date: date, scope: scope,
		credential: creds.AccessKeyID + "/" + scope}
	k.macs.New = func() any { return hmac.New(sha256.New, key) }
	return k
}

// sign is HMAC-SHA256 of data under the key. Keyed MACs are pooled: keying
// one costs as much as using it.
func (k *s3SigningKey) sign(data []byte) (sum [sha256.Size]byte) {
	mac := k.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(data)
	mac.Sum(sum[:0])
	k.macs.Put(mac)
	return sum
}

// appendS3Escaped percent-encodes s as the SDK does S3 object paths (with
// keepSlash) and SigV4 query components: every byte but A-Z a-z 0-9 - . _ ~
// becomes %XX, in upper case.
func appendS3Escaped(dst []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && keepSlash {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}
