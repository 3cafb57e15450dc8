package webpush_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
)

// fuzzNow is a fixed clock, so seeds replay the same way on every run.
var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// maxRetryAfterSecs is ParseRetryAfter's cap on delta-seconds (one year).
const maxRetryAfterSecs = int64(365 * 24 * time.Hour / time.Second)

var retryAfterSeeds = []string{
	"", " ", "0", "1", "120", " 30 ", "+5", "-1", "-0", "007",
	"31536000", "31536001", "9223372036854775807", "9223372036854775808",
	"99999999999999999999999", "-99999999999999999999999", "1.5", "1e3", "0x10", "٣",
	"Sun, 01 Jun 2025 12:02:00 GMT",   // RFC 1123, two minutes ahead
	"Sunday, 01-Jun-25 12:00:30 GMT",  // RFC 850
	"Sun Jun  1 12:00:10 2025",        // ANSI C
	"Wed, 21 Oct 2015 07:28:00 GMT",   // in the past
	"Fri, 31 Dec 9999 23:59:59 GMT",   // far future: Duration saturates
	"Mon, 01 Jan 0001 00:00:00 GMT",   // far past
	"Sun, 01 Jun 2025 12:02:00 +0300", // not GMT
	"tomorrow",
}

// FuzzParseRetryAfter checks that any header value gives a non-negative
// delay, that an empty one is "absent", and that delta-seconds round-trip.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range retryAfterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := webpush.ParseRetryAfter(v, fuzzNow)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v with ok=false", v, d)
		}
		if strings.TrimSpace(v) == "" && ok {
			t.Fatalf("ParseRetryAfter(%q) ok for an empty value", v)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			want := time.Duration(min(n, maxRetryAfterSecs)) * time.Second
			if !ok || d != want {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, true", v, d, ok, want)
			}
		}
	})
}

// FuzzParseRetryAfterSeconds round-trips small delta-seconds exactly.
func FuzzParseRetryAfterSeconds(f *testing.F) {
	for _, n := range []uint32{0, 1, 59, 3600, 86400, uint32(maxRetryAfterSecs), uint32(maxRetryAfterSecs) + 1, 1<<32 - 1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n uint32) {
		v := strconv.FormatUint(uint64(n), 10)
		d, ok := webpush.ParseRetryAfter(v, fuzzNow)
		want := time.Duration(min(int64(n), maxRetryAfterSecs)) * time.Second
		if !ok || d != want {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, true", v, d, ok, want)
		}
	})
}

// FuzzClassify checks that every push-service answer maps to one of the five
// outcomes, in line with API.md's delivery rules, with a sane RetryAfter.
func FuzzClassify(f *testing.F) {
	for _, st := range []int{200, 201, 204, 299, 301, 400, 401, 403, 404, 406, 408, 410, 413, 429, 500, 502, 503, 599, 600, 0, -1, 1 << 40} {
		f.Add(st, "")
		f.Add(st, "120")
	}
	for _, s := range retryAfterSeeds {
		f.Add(429, s)
		f.Add(503, s)
	}
	valid := map[domain.Outcome]bool{
		domain.OutcomeDelivered: true, domain.OutcomeGone: true, domain.OutcomeRateLimited: true,
		domain.OutcomeTransient: true, domain.OutcomeRejected: true,
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string) {
		h := http.Header{}
		if retryAfter != "" {
			h["Retry-After"] = []string{retryAfter}
		}
		r := webpush.Classify(status, h, "reason", fuzzNow)
		if !valid[r.Outcome] {
			t.Fatalf("Classify(%d, %q): outcome %d is none of the five", status, retryAfter, r.Outcome)
		}
		if r.RetryAfter < 0 {
			t.Fatalf("Classify(%d, %q): RetryAfter %v", status, retryAfter, r.RetryAfter)
		}
		if r.StatusCode != status {
			t.Fatalf("Classify(%d, %q): StatusCode %d", status, retryAfter, r.StatusCode)
		}
		var want domain.Outcome
		switch {
		case status >= 200 && status < 300:
			want = domain.OutcomeDelivered
		case status == 404, status == 410:
			want = domain.OutcomeGone
		case status == 429:
			want = domain.OutcomeRateLimited
		case status >= 500, status == 408:
			want = domain.OutcomeTransient
		default:
			want = domain.OutcomeRejected
		}
		if r.Outcome != want {
			t.Fatalf("Classify(%d, %q) = %v, want %v", status, retryAfter, r.Outcome, want)
		}
		if r.Outcome == domain.OutcomeDelivered {
			if r.RetryAfter != 0 || r.Reason != "" {
				t.Fatalf("Classify(%d): delivered with RetryAfter %v, reason %q", status, r.RetryAfter, r.Reason)
			}
			return
		}
		if d, ok := webpush.ParseRetryAfter(retryAfter, fuzzNow); ok && r.RetryAfter != d {
			t.Fatalf("Classify(%d, %q): RetryAfter %v, header says %v", status, retryAfter, r.RetryAfter, d)
		}
	})
}
