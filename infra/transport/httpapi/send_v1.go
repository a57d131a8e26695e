package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/domain/notification"
)

// sendBodyV1 is the /v1 send: the seed's three fields and the optional title, data, action
// URL, actions and tags. Actions and tags are read element by element so that a value of the
// wrong type is named with its index (actions[1].url), as the domain names a broken rule.
type sendBodyV1 struct {
	sendBody
	Title     string            `json:"title"`
	Data      json.RawMessage   `json:"data"`
	ActionURL string            `json:"actionUrl"`
	Actions   []json.RawMessage `json:"actions"`
	Tags      []json.RawMessage `json:"tags"`
}

// action is one element of actions as sent.
type action struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// rich returns the optional fields for the domain to validate; a null counts as absent.
func (b sendBodyV1) rich() (notification.Rich, error) {
	r := notification.Rich{Title: b.Title, ActionURL: b.ActionURL}
	if d := bytes.TrimSpace(b.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		r.Data = b.Data
	}
	for i, raw := range b.Actions {
		var a action
		if err := unmarshalElement(raw, fmt.Sprintf("actions[%d]", i), &a); err != nil {
			return r, err
		}
		r.Actions = append(r.Actions, notification.Action{Label: a.Label, URL: a.URL})
	}
	for i, raw := range b.Tags {
		var t string
		if err := unmarshalElement(raw, fmt.Sprintf("tags[%d]", i), &t); err != nil {
			return r, err
		}
		r.Tags = append(r.Tags, t)
	}
	return r, nil
}

// unmarshalElement decodes one element of a list already read as valid JSON, naming a value
// of the wrong type by its path (actions[1], actions[1].url).
func unmarshalElement(raw json.RawMessage, path string, v any) error {
	err := json.Unmarshal(raw, v)
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &typ):
		if typ.Field != "" {
			path += "." + typ.Field
		}
		return &bodyError{field: path, rule: fmt.Sprintf("must be %s, not %s", typeName(typ.Type), typ.Value)}
	}
	return &bodyError{field: path, rule: "malformed JSON: " + err.Error()}
}

func runSendV1(d deps, c echo.Context) (command.Result, error) {
	var b sendBodyV1
	if err := decodeJSON(c, MaxBody, &b); err != nil {
		return command.Result{}, err
	}
	rich, err := b.rich()
	if err != nil {
		return command.Result{}, err
	}
	return d.Send.Handle(c.Request().Context(), command.SendNotification{
		Meta: commandMeta(c), RecipientID: b.RecipientID, Content: b.Content, Category: b.Category, Rich: rich,
	})
}
