// Package openapitest checks real HTTP exchanges against the service's
// OpenAPI document (adapters/http/openapi.json), so tests catch any drift
// between the handlers and the published contract.
//
//	v := openapitest.New(t, doc)
//	// … send req with body reqBody, read status, header and respBody …
//	v.Check(t, req, reqBody, resp.StatusCode, resp.Header, respBody)
//
// Requests are validated only when the service accepted them (status < 400):
// tests send malformed requests on purpose to check the 4xx answers. Responses
// are always validated, and a status the document does not list is an error.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator validates requests and responses against one OpenAPI document.
// It is safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	covered map[string]bool
}

// New loads doc (OpenAPI 3 JSON or YAML), validates it and builds a router on
// it; any problem fails the test at once.
func New(tb testing.TB, doc []byte) *Validator {
	tb.Helper()
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		tb.Fatalf("openapitest: loading the OpenAPI document: %v", err)
		return nil
	}
	if err := t.Validate(loader.Context); err != nil {
		tb.Fatalf("openapitest: the OpenAPI document is invalid: %v", err)
		return nil
	}
	router, err := gorillamux.NewRouter(t)
	if err != nil {
		tb.Fatalf("openapitest: building the router: %v", err)
		return nil
	}
	return &Validator{doc: t, router: router, covered: make(map[string]bool)}
}

// Doc returns the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Check validates one exchange: the request (only when status < 400) and the
// response (always), reporting every mismatch with tb.Errorf. reqBody is the
// body that was sent (req.Body is not read); header and respBody are the
// response's. Hosts never matter: the document's server is "/".
func (v *Validator) Check(tb testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	tb.Helper()
	r := v.prepare(req, reqBody)
	what := fmt.Sprintf("%s %s → %d", r.Method, r.URL.Path, status)

	route, params, err := v.router.FindRoute(r)
	if err != nil {
		// Paths the router does not know, or methods a path does not serve,
		// are answered with the shared error bodies: check those.
		route, err = v.fallbackRoute(r, status, err)
		if err != nil {
			tb.Errorf("openapitest: %s: %v", what, err)
			return
		}
	}
	what = fmt.Sprintf("%s %s → %d", r.Method, route.Path, status)

	reqInput := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	ok := true
	if status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), reqInput); err != nil {
			ok = false
			tb.Errorf("openapitest: %s: the request does not match the OpenAPI document: %v\nrequest body: %s",
				what, err, excerpt(reqBody))
		}
	}

	if header == nil {
		header = http.Header{}
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 status,
		Header:                 header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, // a status the document does not list is a mismatch
			MultiError:            true,
		},
	}
	respInput.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), respInput); err != nil {
		ok = false
		tb.Errorf("openapitest: %s: the response does not match the OpenAPI document: %v\nresponse body: %s",
			what, err, excerpt(respBody))
	}
	if ok {
		v.mu.Lock()
		v.covered[coverageKey(r.Method, route.Path, status)] = true
		v.mu.Unlock()
	}
}

// Covered returns the "METHOD path status" combinations (path as templated in
// the document, e.g. "POST /api/v1/notifications/subscribe 422") whose
// exchanges passed Check so far. The map is a copy.
func (v *Validator) Covered() map[string]bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]bool, len(v.covered))
	for k, ok := range v.covered {
		out[k] = ok
	}
	return out
}

// Documented returns every "METHOD path status" combination the document
// lists, sorted, so a test can compare it with Covered. The 405s are left
// out: every operation lists one, but a 405 is answered to the methods a path
// does not serve, and Covered records it under that method
// ("POST /healthz 405").
func (v *Validator) Documented() []string {
	var out []string
	for path, item := range v.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses == nil {
				continue
			}
			for code := range op.Responses.Map() {
				if code == strconv.Itoa(http.StatusMethodNotAllowed) {
					continue
				}
				out = append(out, coverageKey(method, path, code))
			}
		}
	}
	slices.Sort(out)
	return out
}

func coverageKey(method, path string, status any) string {
	return fmt.Sprintf("%s %s %v", method, path, status)
}

// prepare copies req with reqBody as its body and without a host, so the
// route matches whatever 127.0.0.1:port the test server listens on.
func (v *Validator) prepare(req *http.Request, reqBody []byte) *http.Request {
	r := req.Clone(context.Background())
	u := *req.URL
	u.Scheme, u.Host, u.User = "", "", nil
	r.URL = &u
	r.Host = ""
	r.RequestURI = ""
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	return r
}

// fallbackRoute builds a route for the exchanges that have no operation in
// the document: a 405 for a method a documented path does not serve, and a
// 404 for an unknown path. Their bodies must still be the shared error shape
// (components/responses MethodNotAllowed and NotFound).
func (v *Validator) fallbackRoute(r *http.Request, status int, findErr error) (*routers.Route, error) {
	var name string
	path := r.URL.Path
	switch {
	case errors.Is(findErr, routers.ErrMethodNotAllowed) && status == http.StatusMethodNotAllowed:
		name = "MethodNotAllowed"
		if tmpl, item := v.pathTemplate(path); item != nil {
			path = tmpl
		}
	case errors.Is(findErr, routers.ErrPathNotFound) && status == http.StatusNotFound:
		name = "NotFound"
	default:
		return nil, fmt.Errorf("no operation for this request in the OpenAPI document (%v)", findErr)
	}
	resp := v.doc.Components.Responses[name]
	if resp == nil {
		return nil, fmt.Errorf("the OpenAPI document has no components/responses/%s to check a %d against", name, status)
	}
	op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(status, resp))}
	return &routers.Route{Spec: v.doc, Path: path, Method: r.Method, Operation: op}, nil
}

func (v *Validator) pathTemplate(path string) (string, *openapi3.PathItem) {
	if item := v.doc.Paths.Find(path); item != nil {
		for tmpl, it := range v.doc.Paths.Map() {
			if it == item {
				return tmpl, item
			}
		}
	}
	return path, nil
}

// excerpt keeps failure messages readable.
func excerpt(b []byte) string {
	const maxLen = 2000
	if len(b) == 0 {
		return "(empty)"
	}
	if len(b) > maxLen {
		return string(b[:maxLen]) + "… (" + strconv.Itoa(len(b)) + " bytes)"
	}
	return string(b)
}
