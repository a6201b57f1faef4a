package main

// The fast S3 presigner against the SDK: byte for byte against the SDK's
// presigner on many endpoint layouts, credentials and awkward inputs; at
// fixed clocks (across midnight, with rotating credentials) against the SDK's
// own SigV4 signer and an independent POST policy reference; against the
// real versitygw through TestS3ObjectStoreContract, and here through the SDK
// fallback too.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3SignLayouts are the endpoint layouts the SDK can give a bucket.
var s3SignLayouts = []struct {
	name, bucket, region string
	opts                 func(*s3.Options)
}{
	{"path-style custom endpoint with a base path", "dropp-files", "us-east-1", func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String("http://127.0.0.1:9000/base"), true
	}},
	{"path-style custom host", "dropp-files", "eu-central-1", func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String("https://minio.example.com:9443"), true
	}},
	{"virtual-hosted custom host", "dropp-files", "eu-central-1", func(o *s3.Options) {
		o.BaseEndpoint = aws.String("https://minio.example.com:9443")
	}},
	{"custom host on the default port", "dropp-files", "us-east-1", func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String("https://s3.example.com:443"), true
	}},
	{"virtual-hosted AWS", "dropp-files", "eu-west-1", func(*s3.Options) {}},
	{"AWS path-style for a dotted bucket", "files.dropp.example", "eu-west-1", func(*s3.Options) {}},
	{"AWS path-style forced", "dropp-files", "ap-southeast-2", func(o *s3.Options) { o.UsePathStyle = true }},
	{"AWS FIPS dual-stack", "dropp-files", "us-east-1", func(o *s3.Options) {
		o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
	}},
	{"AWS transfer acceleration", "dropp-files", "us-west-2", func(o *s3.Options) { o.UseAccelerate = true }},
	{"response checksums when supported (LoadDefaultConfig's default)", "dropp-files", "us-east-1", func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String("http://127.0.0.1:9000"), true
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	}},
	{"response checksums when required", "dropp-files", "eu-west-1", func(o *s3.Options) {
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}},
}

// s3SignCredentials: long-term keys, and temporary ones whose session token
// needs escaping.
var s3SignCredentials = map[string]aws.Credentials{
	"no session token": {AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	"session token": {AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
		SessionToken: "FwoGZXIvYXdzEJr//////////wEaDM+token/with=padding=="},
}

// s3SignKeys are object keys as Dropp writes them, and keys no Dropp writes
// but S3 accepts, which need escaping.
var s3SignKeys = []string{
	objectKey("owner", "0123456789abcdef", time.Date(2026, 11, 29, 23, 59, 59, 999e6, time.UTC)),
	"a b/ü+%?#&=~!*'()/x", "日本語/ファイル.txt", "double//slash", "trailing/", "-_.~", "tab\there", `quote"back\slash<&>`,
}

// s3SignDownloads are downloads whose names need escaping in
// response-content-disposition, with and without a content type.
func s3SignDownloads() []DownloadRequest {
	var ds []DownloadRequest
	names := append([]string{"report.pdf", "日本語 資料.pdf", "100% done; really.txt"}, contractFilenames...)
	types := []string{"", "application/pdf", "text/plain; charset=utf-8"}
	for i, key := range s3SignKeys {
		for j, name := range names {
			ds = append(ds, DownloadRequest{Key: key, Filename: name, ContentType: types[(i+j)%len(types)], Expires: time.Now().Add(15 * time.Minute)})
		}
	}
	return ds
}

// s3SignUploads are upload policies on the same keys, with and without a
// Content-Type condition, including types JSON must escape.
func s3SignUploads() []UploadPolicy {
	var ps []UploadPolicy
	types := []string{"", "application/pdf", "text/plain; charset=utf-8", `text/x-"quoted"`, "image/svg+xml&<evil>"}
	for i, key := range s3SignKeys {
		ps = append(ps, UploadPolicy{Key: key, MinSize: int64(i), MaxSize: 1 << 40, ContentType: types[i%len(types)],
			Expires: time.Now().Add(time.Hour).Truncate(time.Second)})
	}
	return ps
}

// s3SignClient is the SDK's client for a layout, as newS3Objects builds
// one, with credentials no test signs with.
func s3SignClient(region string, opts func(*s3.Options)) *s3.Client {
	o := s3.Options{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDCLIENT", "client-secret", "")}
	opts(&o)
	return s3.New(o)
}

// TestS3SignerMatchesSDK: for every layout, credential kind and awkward
// input, the fast signer writes the SDK's URL and form, byte for byte, at
// the SDK's signing time.
func TestS3SignerMatchesSDK(t *testing.T) {
	t.Parallel()
	for _, l := range s3SignLayouts {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			client := s3SignClient(l.region, l.opts)
			s, err := newS3Signer(t.Context(), client, l.bucket)
			if err != nil {
				t.Fatalf("newS3Signer: %v", err)
			}
			for credName, creds := range s3SignCredentials {
				presign := s3.NewPresignClient(client, s3OfflineWith(creds))
				for _, d := range s3SignDownloads() {
					sdk, err := sdkPresignGet(t.Context(), presign, l.bucket, d)
					if err != nil {
						t.Fatal(err)
					}
					if err := s.matchGet(sdk.URL, creds, d); err != nil {
						t.Errorf("%s, key %q, name %q: %v", credName, d.Key, d.Filename, err)
					}
				}
				for _, p := range s3SignUploads() {
					sdk, err := sdkPresignPost(t.Context(), presign, l.bucket, p)
					if err != nil {
						t.Fatal(err)
					}
					if err := s.matchPost(sdk, creds, p); err != nil {
						t.Errorf("%s, key %q, type %q: %v", credName, p.Key, p.ContentType, err)
					}
				}
			}
		})
	}
}

// TestS3SignerFixedClock signs at fixed times with one signer, so its cached
// key must follow the day and the credentials: a GET against the SDK's own
// SigV4 signer, a POST against a policy and key derivation written from
// AWS's documentation.
func TestS3SignerFixedClock(t *testing.T) {
	t.Parallel()
	l := s3SignLayouts[0]
	s, err := newS3Signer(t.Context(), s3SignClient(l.region, l.opts), l.bucket)
	if err != nil {
		t.Fatal(err)
	}
	long, temp := s3SignCredentials["no session token"], s3SignCredentials["session token"]
	rotated := long
	rotated.SecretAccessKey = "a-rotated-secret-with-the-same-access-key"
	midnight := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Time
		creds aws.Credentials
	}{
		{midnight.Add(-time.Second), long},
		{midnight.Add(-time.Second / 2), long}, // same day: the cached key
		{midnight, long},                       // a new day, a new key
		{midnight.Add(time.Second), temp},      // other credentials
		{midnight.Add(2 * time.Second), rotated},
		{midnight.Add(3 * time.Second), long},
		{midnight.Add(-2 * time.Hour).In(time.FixedZone("UTC+14", 14*3600)), long}, // the 31st there, the 30th in UTC: UTC counts
	}
	for _, st := range steps {
		d := DownloadRequest{Key: s3SignKeys[1], Filename: "r é.pdf", ContentType: "application/pdf", Expires: st.at.Add(15*time.Minute + 999*time.Millisecond)}
		got, err := s.presignGet(st.creds, st.at, d)
		if err != nil {
			t.Fatal(err)
		}
		if want := v4PresignS3(t, got, st.creds, l.region, st.at); got != want {
			t.Errorf("GET at %v:\n got  %s\n want %s", st.at, got, want)
		}
		if !strings.Contains(got, "&X-Amz-Expires=900&") {
			t.Errorf("GET at %v: %s, want X-Amz-Expires=900 (whole seconds left)", st.at, got)
		}
		p := UploadPolicy{Key: s3SignKeys[1], MinSize: 0, MaxSize: 42, ContentType: "text/plain", Expires: st.at.Add(time.Hour + time.Second/2)}
		form := s.presignPost(st.creds, st.at, p)
		checkPostReference(t, form, l.bucket, l.region, st.creds, st.at, p)
	}
}

// TestS3SignerConcurrent signs from many goroutines while the day and the
// credentials change under them, so the shared key cache is raced (run with
// -race) and every URL still verifies.
func TestS3SignerConcurrent(t *testing.T) {
	t.Parallel()
	l := s3SignLayouts[4]
	s, err := newS3Signer(t.Context(), s3SignClient(l.region, l.opts), l.bucket)
	if err != nil {
		t.Fatal(err)
	}
	creds := []aws.Credentials{s3SignCredentials["no session token"], s3SignCredentials["session token"]}
	days := []time.Time{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	const workers, each = 4, 25
	urls := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				at := days[(w+i)%2]
				d := DownloadRequest{Key: s3SignKeys[i%len(s3SignKeys)], Filename: "f.txt", Expires: at.Add(time.Minute)}
				u, _ := s.presignGet(creds[i%2], at, d)
				urls[w] = append(urls[w], u)
			}
		})
	}
	wg.Wait()
	for w := range workers {
		for i, u := range urls[w] {
			if want := v4PresignS3(t, u, creds[i%2], l.region, days[(w+i)%2]); u != want {
				t.Errorf("worker %d, URL %d:\n got  %s\n want %s", w, i, u, want)
			}
		}
	}
}

// v4PresignS3 presigns signedURL again, without its signature, with the
// SDK's SigV4 signer configured as its S3 presigner configures it.
func v4PresignS3(t *testing.T, signedURL string, creds aws.Credentials, region string, at time.Time) string {
	t.Helper()
	unsigned, _, ok := strings.Cut(signedURL, "&X-Amz-Signature=")
	if !ok {
		t.Fatalf("no signature in %s", signedURL)
	}
	req, err := http.NewRequest("GET", unsigned, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	want, _, err := signer.PresignHTTP(t.Context(), creds, req, s3UnsignedBody, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// checkPostReference checks a form against AWS's documented POST policy
// signing: the policy as the SDK marshals it (encoding/json of its condition
// list) and a signing key derived step by step.
func checkPostReference(t *testing.T, form UploadForm, bucket, region string, creds aws.Credentials, at time.Time, p UploadPolicy) {
	t.Helper()
	at = at.UTC()
	credential := creds.AccessKeyID + "/" + at.Format("20060102") + "/" + region + "/s3/aws4_request"
	conditions := []any{
		map[string]string{"X-Amz-Algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"bucket": bucket},
		map[string]string{"X-Amz-Credential": credential},
		map[string]string{"X-Amz-Date": at.Format("20060102T150405Z")},
	}
	want := map[string]string{"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": credential,
		"X-Amz-Date": at.Format("20060102T150405Z"), "key": p.Key, "Content-Type": p.ContentType}
	if creds.SessionToken != "" {
		conditions = append(conditions, map[string]string{"X-Amz-Security-Token": creds.SessionToken})
		want["X-Amz-Security-Token"] = creds.SessionToken
	}
	conditions = append(conditions, []any{"content-length-range", p.MinSize, p.MaxSize},
		map[string]string{"Content-Type": p.ContentType}, map[string]string{"key": p.Key})
	doc, err := json.Marshal(map[string]any{"conditions": conditions, "expiration": p.Expires.UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	want["policy"] = base64.StdEncoding.EncodeToString(doc)
	key := []byte("AWS4" + creds.SecretAccessKey)
	for _, part := range []string{at.Format("20060102"), region, "s3", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	want["X-Amz-Signature"] = hex.EncodeToString(hmacSHA256(key, want["policy"]))
	if len(form.Fields) != len(want) {
		t.Errorf("POST at %v: fields %v, want %v", at, form.Fields, want)
	}
	for name, value := range want {
		if form.Fields[name] != value {
			t.Errorf("POST at %v: field %s = %q, want %q", at, name, form.Fields[name], value)
		}
	}
	if !form.ExpiresAt.Equal(p.Expires) {
		t.Errorf("POST at %v: expires at %v, want %v", at, form.ExpiresAt, p.Expires)
	}
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

// TestS3PresignUsesFreshCredentials: each presign asks the SDK's provider,
// so rotated credentials (an instance role, SSO) are used as soon as the
// provider has them, session token included.
func TestS3PresignUsesFreshCredentials(t *testing.T) {
	t.Parallel()
	o := benchObjects(t)
	if o.signer == nil {
		t.Fatal("the rig's S3 presigns through the SDK, want the fast signer")
	}
	var calls atomic.Int64
	o.creds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		n := calls.Add(1)
		return aws.Credentials{AccessKeyID: "ASIAROTATED" + string(rune('0'+n)), SecretAccessKey: "s", SessionToken: "tok" + string(rune('0'+n))}, nil
	})
	exp := time.Now().Add(time.Minute)
	for n := range 2 {
		u, err := o.PresignDownload(t.Context(), DownloadRequest{Key: "k", Filename: "f", Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		form, err := o.PresignUpload(t.Context(), UploadPolicy{Key: "k", MaxSize: 1, Expires: exp})
		if err != nil {
			t.Fatal(err)
		}
		getAKID, postAKID := "ASIAROTATED"+string(rune('1'+2*n)), "ASIAROTATED"+string(rune('2'+2*n))
		q, _ := url.ParseQuery(u[strings.IndexByte(u, '?')+1:])
		if !strings.HasPrefix(q.Get("X-Amz-Credential"), getAKID+"/") || q.Get("X-Amz-Security-Token") != "tok"+getAKID[len(getAKID)-1:] {
			t.Errorf("GET %d signed with %q token %q, want %s and its token", n, q.Get("X-Amz-Credential"), q.Get("X-Amz-Security-Token"), getAKID)
		}
		if !strings.HasPrefix(form.Fields["X-Amz-Credential"], postAKID+"/") || form.Fields["X-Amz-Security-Token"] != "tok"+postAKID[len(postAKID)-1:] {
			t.Errorf("POST %d signed with %v, want %s and its token", n, form.Fields, postAKID)
		}
	}
}

// TestS3PresignAllocations: presigning no longer runs the SDK's middleware
// stack per call (about 400 allocations each before).
func TestS3PresignAllocations(t *testing.T) {
	o := benchObjects(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	d := DownloadRequest{Key: objectKey("user", newID(), time.Now()), Filename: "report.pdf", ContentType: "application/pdf", Expires: exp}
	p := UploadPolicy{Key: d.Key, MinSize: 1 << 20, MaxSize: 1 << 20, ContentType: "application/pdf", Expires: exp}
	for name, f := range map[string]func(){
		"PresignDownload": func() { o.PresignDownload(ctx, d) },
		"PresignUpload":   func() { o.PresignUpload(ctx, p) },
	} {
		if n := testing.AllocsPerRun(100, f); n > 25 {
			t.Errorf("%s: %.0f allocations per call, want at most 25", name, n)
		}
	}
}

// TestS3SignerFallsBackToSDK: where the SDK would not sign as the fast
// signer does (a multi-region access point signs with SigV4a; an S3 Express
// bucket needs a session), the SDK presigns, and start-up never reaches the
// network to find that out.
func TestS3SignerFallsBackToSDK(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ bucket, wantAlgorithm string }{
		"multi-region access point": {"arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", "AWS4-ECDSA-P256-SHA256"},
		"S3 Express":                {"dropp--usw2-az1--x-s3", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			cfg := &config{Bucket: c.bucket, Region: "eu-west-1", AWSAccessKey: "AKIDFALLBACK", AWSSecretKey: "secret"}
			start := time.Now()
			o, err := newS3Objects(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("newS3Objects took %v", took)
			}
			if o.signer != nil {
				t.Fatal("fast signer in use, want the SDK's presigner")
			}
			if !strings.Contains(logs.String(), "presigning through the SDK") {
				t.Errorf("log %q, want a warning that the SDK presigns", logs.String())
			}
			if c.wantAlgorithm == "" {
				return
			}
			u, err := o.PresignDownload(t.Context(), DownloadRequest{Key: "k", Filename: "f", Expires: time.Now().Add(time.Minute)})
			if err != nil || !strings.Contains(u, "X-Amz-Algorithm="+c.wantAlgorithm) {
				t.Errorf("PresignDownload = %q, %v; want the SDK's %s URL", u, err, c.wantAlgorithm)
			}
		})
	}
}

// TestS3ObjectStoreContractSDKPresigner runs the object store contract on
// versitygw with the SDK presigning, the fallback of TestS3SignerFallsBackToSDK.
func TestS3ObjectStoreContractSDKPresigner(t *testing.T) {
	t.Parallel()
	bucket := testBucket(t)
	cfg, err := loadConfig(testGetenv(s3TestEnv(t, bucket)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := newS3Objects(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	store.signer = nil
	testObjectStoreContract(t, contractStore{ObjectStore: store, baseURL: "http://dropp.invalid", bucket: bucket})
}

// s3SignStrings are strings that need every kind of JSON and URL escaping.
func s3SignStrings() []string {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	return []string{"", "plain", string(all), "é日本\u2028\u2029", "\xff\xfe broken utf-8 \xc3", `"<&>\`, "\x7f", "a+b c/d"}
}

// checkS3SignStrings runs check on each of s3SignStrings.
func checkS3SignStrings(t *testing.T, check func(*testing.T, string)) {
	for _, s := range s3SignStrings() {
		check(t, s)
	}
}

// fuzzS3SignStrings fuzzes check from s3SignStrings.
func fuzzS3SignStrings(f *testing.F, check func(*testing.T, string)) {
	for _, s := range s3SignStrings() {
		f.Add(s)
	}
	f.Fuzz(check)
}

// TestAppendJSONString: JSON strings in policies are encoding/json's.
func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	checkS3SignStrings(t, checkAppendJSONString)
}

func FuzzAppendJSONString(f *testing.F) { fuzzS3SignStrings(f, checkAppendJSONString) }

func checkAppendJSONString(t *testing.T, s string) {
	want, _ := json.Marshal(s)
	if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Errorf("appendJSONString(%q) = %s, want x%s", s, got, want)
	}
}

// TestAppendS3Escaped: query components are escaped as the SDK's SigV4
// signer does (url.QueryEscape, with %20 for a space); paths likewise but
// keeping '/'.
func TestAppendS3Escaped(t *testing.T) {
	t.Parallel()
	checkS3SignStrings(t, checkAppendS3Escaped)
}

func FuzzAppendS3Escaped(f *testing.F) { fuzzS3SignStrings(f, checkAppendS3Escaped) }

func checkAppendS3Escaped(t *testing.T, s string) {
	want := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	if got := string(appendS3Escaped(nil, s, false)); got != want {
		t.Errorf("query escape of %q = %s, want %s", s, got, want)
	}
	wantPath := strings.ReplaceAll(want, "%2F", "/")
	if got := string(appendS3Escaped(nil, s, true)); got != wantPath {
		t.Errorf("path escape of %q = %s, want %s", s, got, wantPath)
	}
}
