package main

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestWebPageHeaders: "/" sends a signed-out browser to /login/ and shows
// a signed-in one the page with a strict CSP; the script and style are
// served with their types, nosniff, and revalidation by ETag; the page has
// no inline script or style for the CSP to refuse.
func TestWebPageHeaders(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	resp, body := e.do(request{method: "GET", path: "/"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/" {
		t.Fatalf("signed out, GET /: %d to %q; %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}

	tok := e.newUser("pager")
	resp, body = e.do(request{method: "GET", path: "/", token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "connect-src 'self';", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows something unsafe", csp)
	}
	want := map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
	wantHeaders(t, "/", resp.Header, want)
	inline := regexp.MustCompile(`(?i)<script>|<script(\s+[a-z-]+="[^"]*")*\s*>\s*\S|<style|\sstyle=|\son[a-z]+=`)
	if m := inline.FindString(string(body)); m != "" {
		t.Errorf("the page has inline code the CSP refuses: %q", m)
	}
	if !strings.Contains(string(body), "pager@example.com") {
		t.Errorf("the page does not name the user:\n%s", body)
	}

	js := "text/javascript; charset=utf-8"
	for path, ct := range map[string]string{"/app.js": js, "/uploader.js": js, "/app.css": "text/css; charset=utf-8"} {
		resp, body := e.do(request{method: "GET", path: path})
		wantStatus(t, resp, body, http.StatusOK)
		wantHeaders(t, path, resp.Header, map[string]string{"Content-Type": ct, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
		etag := resp.Header.Get("ETag")
		if etag == "" || len(body) == 0 {
			t.Fatalf("%s: ETag %q, %d bytes", path, etag, len(body))
		}
		resp, body = e.do(request{method: "GET", path: path, header: map[string]string{"If-None-Match": etag}})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%s with If-None-Match: %d, %d bytes; want 304, empty", path, resp.StatusCode, len(body))
		}
	}
}

// wantHeaders checks that h has each header of want exactly.
func wantHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %s %q, want %q", what, k, h.Get(k), v)
		}
	}
}

// TestWebPageCSPAllowsTheBucket: in S3 mode the page may send bytes to
// the bucket's origin, and to no other.
func TestWebPageCSPAllowsTheBucket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	resp, body := e.do(request{method: "GET", path: "/", token: e.newUser("bucketeer")})
	wantStatus(t, resp, body, http.StatusOK)
	csp := resp.Header.Get("Content-Security-Policy")
	if want := "connect-src 'self' " + requireRig(t).s3Endpoint + ";"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}
}

// TestS3CORSProblem: the start-up check says when the bucket's CORS rules
// do not let the web page upload, and is quiet once the README's rule is
// in place.
func TestS3CORSProblem(t *testing.T) {
	t.Parallel()
	const origin = "https://dropp.example"
	bucket := testBucket(t)
	cfg, err := loadConfig(testGetenv(s3TestEnv(t, bucket)))
	if err != nil {
		t.Fatal(err)
	}
	o, err := newS3Objects(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if msg := o.corsProblem(t.Context(), origin); !strings.Contains(msg, "no CORS rule") {
		t.Errorf("without CORS rules: %q", msg)
	}
	putReadmeCORSRule(t, bucket, origin)
	cases := []struct{ origin, problem string }{
		{origin, ""},
		{origin + "/dropp", ""}, // PUBLIC_URL with a path
		{"", ""},                // the origin is not known at start: any rule will do
		{"https://other.example", "no CORS rule of the bucket lets https://other.example POST and PUT"},
	}
	for _, c := range cases {
		if msg := o.corsProblem(t.Context(), c.origin); !strings.Contains(msg, c.problem) || (c.problem == "") != (msg == "") {
			t.Errorf("origin %q: %q, want %q", c.origin, msg, c.problem)
		}
	}
}

// putReadmeCORSRule gives bucket the CORS rule the README documents, for
// origin.
func putReadmeCORSRule(t *testing.T, bucket, origin string) {
	t.Helper()
	_, err := requireRig(t).s3.PutBucketCors(t.Context(), &s3.PutBucketCorsInput{
		Bucket: aws.String(bucket),
		CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{{
			AllowedOrigins: []string{origin},
			AllowedMethods: []string{"POST", "PUT", "GET"},
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag"},
			MaxAgeSeconds:  aws.Int32(3600),
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketCors: %v", err)
	}
}

// TestStartUpLineWarnsOfMissingCORS: runDropp's "objects:" line says when the
// bucket's CORS rules would stop the web page from uploading.
func TestStartUpLineWarnsOfMissingCORS(t *testing.T) {
	t.Parallel()
	env := mongoS3Env(t)
	p := opsStartProgram(t, env)
	p.listenAddr(t) // the lines are all out once it listens
	want := "objects: s3 " + env["AWS_S3_BUCKET"] + " (WARNING: the bucket has no CORS rule, so the web page cannot upload (see CORS in the README))"
	if !slices.Contains(strings.Split(p.stdout.String(), "\n"), want) {
		t.Errorf("start-up lines:\n%s\nwant the line %q", p.stdout.String(), want)
	}
}
