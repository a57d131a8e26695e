package inbox

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/eventnotify/notify/domain/notification"
)

// AppendJSON appends the view's published JSON to b: byte for byte what encoding/json writes
// for View's fields (a fuzz test holds it to that), several times faster. Strings of plain
// printable ASCII are copied as they are; any other string, any time RFC 3339 cannot express
// (which encoding/json refuses too), and data (which encoding/json compacts and escapes) are
// left to encoding/json. Extra's members (json:"-") follow, as they are.
func AppendJSON(b []byte, v View) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, v.ID)
	b = append(b, `,"recipientId":`...)
	b = appendString(b, v.RecipientID)
	b = append(b, `,"content":`...)
	b = appendString(b, v.Content)
	b = append(b, `,"category":`...)
	b = appendString(b, v.Category)
	b = append(b, `,"status":`...)
	b = appendString(b, string(v.Status))
	b = append(b, `,"readAt":`...)
	if b, err = appendTimePtr(b, v.ReadAt); err != nil {
		return b, err
	}
	b = append(b, `,"canceledAt":`...)
	if b, err = appendTimePtr(b, v.CanceledAt); err != nil {
		return b, err
	}
	b = append(b, `,"createdAt":`...)
	if b, err = appendTime(b, v.CreatedAt); err != nil {
		return b, err
	}
	// The fields of issue #13, each only when set: without them the document is the seed's.
	if v.SeenAt != nil {
		b = append(b, `,"seenAt":`...)
		if b, err = appendTime(b, *v.SeenAt); err != nil {
			return b, err
		}
	}
	if v.ArchivedAt != nil {
		b = append(b, `,"archivedAt":`...)
		if b, err = appendTime(b, *v.ArchivedAt); err != nil {
			return b, err
		}
	}
	if v.Title != "" {
		b = append(b, `,"title":`...)
		b = appendString(b, v.Title)
	}
	if len(v.Data) > 0 {
		data, err := json.Marshal(v.Data) // compacted and HTML-escaped, as encoding/json does
		if err != nil {
			return b, err
		}
		b = append(append(b, `,"data":`...), data...)
	}
	if v.ActionURL != "" {
		b = append(b, `,"actionUrl":`...)
		b = appendString(b, v.ActionURL)
	}
	if len(v.Actions) > 0 {
		b = append(b, `,"actions":[`...)
		for i, a := range v.Actions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"label":`...)
			b = appendString(b, a.Label)
			b = append(b, `,"url":`...)
			b = appendString(b, a.URL)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(v.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range v.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b, err = notification.AppendMembers(b, v.Extra) // a newer version's fields, as stored
	return append(b, '}'), err
}

// DecodeView reads a document AppendJSON wrote into v, its Extra included (the members that
// are no field of View); the stores read their documents with it. (It is not an UnmarshalJSON
// method: encoding/json would check the document twice, costing 2 µs a view.)
func DecodeView(doc []byte, v *View) error {
	type plain View // View's fields without its methods
	if err := json.Unmarshal(doc, (*plain)(v)); err != nil {
		return err
	}
	v.Extra = notification.UnknownMembers(doc, viewField)
	return nil
}

// ExtraOf returns the members of a Sent's Extra that are no field of View (nil when none):
// a newer version's field cannot take the place of one of the view's.
func ExtraOf(sent json.RawMessage) json.RawMessage {
	if len(sent) == 0 {
		return nil
	}
	return notification.UnknownMembers(sent, viewField)
}

// viewField reports whether encoding/json reads the member key into a field of View.
func viewField(key []byte) bool {
	switch string(key) {
	case "id", "recipientId", "content", "category", "status", "readAt", "canceledAt", "createdAt",
		"seenAt", "archivedAt", "title", "data", "actionUrl", "actions", "tags":
		return true
	}
	for _, name := range [...]string{"id", "recipientId", "content", "category", "status", "readAt", "canceledAt", "createdAt",
		"seenAt", "archivedAt", "title", "data", "actionUrl", "actions", "tags"} {
		if bytes.EqualFold(key, []byte(name)) {
			return true
		}
	}
	return false
}

// SeedJSON returns the seed service's shape of a published document (AppendJSON's output):
// its fields up to createdAt, without those issue #13 added after it. A document without them
// is returned as it is. The seed routes serve this shape, which never changes.
//
// The document is cut after createdAt's value: `,"createdAt":"` can only be that field, as
// every field before it is a string (in which JSON escapes each quote), a time or null, and a
// time's text holds no quote.
func SeedJSON(doc []byte) []byte {
	i := bytes.Index(doc, createdAtKey)
	if i < 0 {
		return doc
	}
	at := i + len(createdAtKey)
	j := bytes.IndexByte(doc[at:], '"')
	if j < 0 {
		return doc
	}
	end := at + j + 1
	if end >= len(doc)-1 {
		return doc
	}
	return append(doc[:end:end], '}')
}

var createdAtKey = []byte(`,"createdAt":"`)

// MarshalJSON is AppendJSON for encoding/json.
func (v View) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v) }

func appendString(b []byte, s string) []byte { return notification.AppendJSONString(b, s) }

func appendTimePtr(b []byte, t *time.Time) ([]byte, error) {
	if t == nil {
		return append(b, "null"...), nil
	}
	return appendTime(b, *t)
}

func appendTime(b []byte, t time.Time) ([]byte, error) { return notification.AppendJSONTime(b, t) }
