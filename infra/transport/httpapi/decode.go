package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// MaxDepth caps how deeply a request body's JSON may nest. Our bodies are flat objects; the
// cap keeps a body of 64 KiB of brackets from costing more than a flat one.
const MaxDepth = 16

// decodeJSON reads a JSON object body of at most limit bytes into v, with errors that say
// what is wrong and where.
func decodeJSON(c echo.Context, limit int64, v any) error {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%w: send the body as application/json (got %q)", errUnsupportedMedia, req.Header.Get(echo.HeaderContentType))
	}
	if req.ContentLength > limit {
		return fmt.Errorf("%w: %d bytes, the limit is %d", errBodyTooLarge, req.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return &bodyError{rule: "could not read the body: " + err.Error()}
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: the limit is %d bytes", errBodyTooLarge, limit)
	}
	return unmarshalBody(body, v)
}

// unmarshalBody decodes one JSON object and explains a failure.
func unmarshalBody(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return &bodyError{rule: "the body is empty; send a JSON object"}
	}
	if !utf8.Valid(body) {
		// encoding/json would silently turn the bad bytes into U+FFFD; RFC 8259 §8.1 wants UTF-8.
		return &bodyError{rule: "the body is not valid UTF-8"}
	}
	if depth(body) > MaxDepth {
		return &bodyError{rule: fmt.Sprintf("the JSON nests deeper than %d levels", MaxDepth)}
	}
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	err := json.Unmarshal(body, v)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syn):
		return &bodyError{rule: fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &bodyError{rule: fmt.Sprintf("the body must be a JSON object, not %s", typ.Value)}
		}
		return &bodyError{field: typ.Field, rule: fmt.Sprintf("must be %s, not %s", typeName(typ.Type), typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &bodyError{rule: "malformed JSON: the body ends too early"}
	}
	return &bodyError{rule: "malformed JSON: " + err.Error()}
}

// typeName names a Go type as the JSON a client should send: "a string", "an array".
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// depth returns the deepest nesting of objects and arrays in body, skipping brackets inside
// strings. It does not validate: json.Unmarshal does that afterwards.
func depth(body []byte) int {
	var (
		d, deepest     int
		inString, skip bool
	)
	for _, c := range body {
		switch {
		case skip:
			skip = false
		case inString:
			switch c {
			case '\\':
				skip = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			if d > deepest {
				deepest = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
