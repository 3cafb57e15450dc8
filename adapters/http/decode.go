package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/evpower/evpush/domain"
)

// MaxBodyBytes limits request bodies (API.md: 413 above 64 KiB).
const MaxBodyBytes = 64 << 10

// decodeJSON reads one JSON object into v. Malformed JSON and wrong types are
// validation errors naming the field; unknown fields are accepted, since
// browsers add some (expirationTime) and may add more.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		_, err := dec.Token()
		if errors.As(err, &maxErr) {
			return errBodyTooLarge
		}
		if !errors.Is(err, io.EOF) {
			return domain.Invalid("body", "must hold a single JSON object")
		}
		return nil
	case errors.As(err, &maxErr):
		return errBodyTooLarge
	case errors.Is(err, io.EOF):
		return domain.Invalid("body", "is required (a JSON object)")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return domain.Invalid(typeErr.Field, "must be a "+jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &typeErr):
		return domain.Invalid("body", "must be a JSON object")
	default:
		return domain.Invalid("body", "malformed JSON")
	}
}

func jsonType(kind string) string {
	switch {
	case kind == "string":
		return "string"
	case kind == "bool":
		return "boolean"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	default:
		return "JSON object"
	}
}

// limitBody caps the body before anything reads it; a declared length over the
// limit is refused without reading.
func limitBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > MaxBodyBytes {
		return errBodyTooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return nil
}
