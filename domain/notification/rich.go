package notification

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validate checks the optional fields and returns them normalized (text trimmed, data
// compacted, no empty lists), with an error for each broken rule, named by its field.
func (r Rich) validate() (Rich, []error) {
	var errs []error
	r.Title = strings.TrimSpace(r.Title)
	if c := utf8.RuneCountInString(r.Title); c > MaxTitle {
		errs = append(errs, invalid("title", "must be at most 120 characters after trimming"))
	} else if !printable(r.Title, false) || hasFormat(r.Title) {
		errs = append(errs, invalid("title", "must be valid UTF-8 without control or format characters (such as bidirectional overrides)"))
	}
	if len(r.Data) > 0 {
		var err error
		if r.Data, err = validData(r.Data); err != nil {
			errs = append(errs, err)
		}
	} else {
		r.Data = nil
	}
	if r.ActionURL = strings.TrimSpace(r.ActionURL); r.ActionURL != "" {
		if err := validURL("actionUrl", r.ActionURL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(r.Actions) > MaxActions {
		errs = append(errs, invalid("actions", "may hold at most 2 actions"))
	}
	if len(r.Actions) == 0 {
		r.Actions = nil
	} else {
		r.Actions = append([]Action(nil), r.Actions...)
	}
	for i := range r.Actions {
		a := &r.Actions[i]
		a.Label, a.URL = strings.TrimSpace(a.Label), strings.TrimSpace(a.URL)
		field := fmt.Sprintf("actions[%d]", i)
		if c := utf8.RuneCountInString(a.Label); c < 1 || c > MaxLabel || !printable(a.Label, false) || hasFormat(a.Label) {
			errs = append(errs, invalid(field+".label", "must be 1 to 40 characters without control or format characters"))
		}
		if err := validURL(field+".url", a.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(r.Tags) > MaxTags {
		errs = append(errs, invalid("tags", "may hold at most 10 tags"))
	}
	if len(r.Tags) == 0 {
		r.Tags = nil
	}
	seen := map[string]bool{}
	for i, t := range r.Tags {
		field := fmt.Sprintf("tags[%d]", i)
		switch {
		case !ValidTag(t):
			errs = append(errs, invalid(field, "must be 1 to 32 characters of a-z, 0-9, - and _, starting with a letter or digit"))
		case seen[t]:
			errs = append(errs, invalid(field, "repeats an earlier tag"))
		}
		seen[t] = true
	}
	return r, errs
}

// ValidTag reports whether t is a tag: 1–32 characters of [a-z0-9_-], the first a letter or
// a digit.
func ValidTag(t string) bool {
	if len(t) < 1 || len(t) > MaxTag {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return false
		}
	}
	return true
}

// validData checks that data is a JSON object of at most MaxDataBytes, nested at most
// MaxDataDepth deep, and returns it compacted.
func validData(data []byte) (json.RawMessage, error) {
	if len(data) > MaxDataBytes*2 { // before compacting: whitespace is not the sender's data
		return nil, invalid("data", "must be at most 4096 bytes of JSON")
	}
	var buf, esc bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, invalid("data", "must be a JSON object")
	}
	// As encoding/json stores it (it escapes <, >, & and U+2028/9 in a RawMessage): a
	// redelivered send compares equal to the stored one.
	json.HTMLEscape(&esc, buf.Bytes())
	c := esc.Bytes()
	switch {
	case len(c) == 0 || c[0] != '{':
		return nil, invalid("data", "must be a JSON object")
	case len(c) > MaxDataBytes:
		return nil, invalid("data", "must be at most 4096 bytes of JSON")
	case depth(c) > MaxDataDepth:
		return nil, invalid("data", "may nest objects and arrays at most 8 deep")
	}
	return json.RawMessage(c), nil
}

// depth is how deep compacted JSON nests objects and arrays (strings skipped).
func depth(c []byte) int {
	d, most, inString := 0, 0, false
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case inString && ch == '\\':
			i++
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '{' || ch == '[':
			d++
			most = max(most, d)
		case ch == '}' || ch == ']':
			d--
		}
	}
	return most
}

// validURL accepts an absolute http(s) URL with a host and no user info, or a path on the
// recipient's site ("/orders/7"; not "//host", which browsers read as another host), in
// printable ASCII (an international host in its punycode form; other characters
// percent-encoded): what a recipient sees of a link is then what it opens.
func validURL(field, s string) error {
	bad := invalid(field, "must be an absolute http(s) URL without user info, or a path starting with /, in printable ASCII (percent-encode the rest), at most 2048 characters")
	if len(s) > MaxURL || strings.ContainsAny(s, " \\") {
		return bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return bad
		}
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") {
			return bad
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return bad
	}
	return nil
}

// hasFormat reports whether s holds a format character (Unicode Cf: bidirectional overrides
// and isolates, zero-width spaces and joiners), which can make a short label read as
// something else.
func hasFormat(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
