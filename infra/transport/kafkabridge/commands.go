package kafkabridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/eventnotify/notify/app"
	"github.com/eventnotify/notify/app/command"
	"github.com/eventnotify/notify/domain/notification"
	"github.com/eventnotify/notify/infra/transport/kafkasub"
)

// Header names on the command and poison topics.
const (
	HeaderCommandID     = "command-id"
	HeaderCorrelationID = "correlation-id"
)

// Command types of the typed envelope.
const (
	TypeSend   = "SendNotification"
	TypeRead   = "ReadNotification"
	TypeUnread = "UnreadNotification"
	TypeCancel = "CancelNotification"
	// See, Archive and Unarchive came with issue #13.
	TypeSee       = "SeeNotification"
	TypeArchive   = "ArchiveNotification"
	TypeUnarchive = "UnarchiveNotification"
)

// Envelope is a typed command on the commands topic. The fields after Category are
// SendNotification's optional ones (issue #13); a null is the same as absent.
type Envelope struct {
	Type           string                `json:"type"`
	CommandID      string                `json:"commandId,omitempty"`
	CorrelationID  string                `json:"correlationId,omitempty"`
	NotificationID string                `json:"notificationId,omitempty"`
	RecipientID    string                `json:"recipientId,omitempty"`
	Content        string                `json:"content,omitempty"`
	Category       string                `json:"category,omitempty"`
	Title          string                `json:"title,omitempty"`
	ActionURL      string                `json:"actionUrl,omitempty"`
	Data           json.RawMessage       `json:"data,omitempty"`
	Actions        []notification.Action `json:"actions,omitempty"`
	Tags           []string              `json:"tags,omitempty"`
}

// rich returns the send's optional fields for the domain to validate.
func (e Envelope) rich() notification.Rich {
	r := notification.Rich{Title: e.Title, ActionURL: e.ActionURL, Actions: e.Actions, Tags: e.Tags}
	if d := bytes.TrimSpace(e.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		r.Data = e.Data
	}
	return r
}

// SeedPayload is the original service's send message.
type SeedPayload struct {
	RecipientID string `json:"recipientId"`
	Content     string `json:"content"`
	Category    string `json:"category"`
}

// permanentError marks a command that can never succeed: it goes to the poison topic instead
// of being retried.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// isPermanent decides poison (true) or retry (false): the one place where command errors
// become Kafka outcomes. A domain refusal (invalid, not found, conflict) is permanent.
func isPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p permanentError
	return errors.As(err, &p) || poisonReason(err) != "other"
}

// PoisonReasons are the kinds of reason a command is poisoned for: malformed (not JSON, or a
// field of the wrong type), too_large (over --kafka-max-message-bytes), unknown_type (an
// envelope type this version does not know), invalid (a domain rule), not_found, conflict,
// panic (the handler panicked) and other.
var PoisonReasons = []string{"malformed", "too_large", "unknown_type", "invalid", "not_found", "conflict", "panic", "other"}

// poisonReason names the kind of a permanent error, for counting: bounded, unlike the
// reason's text, which goes to the poison topic's headers and the log.
func poisonReason(err error) string {
	var r reasonError
	if errors.As(err, &r) {
		return r.kind
	}
	if o := command.Outcome(nil, err); o != "error" { // the domain's refusals, named as the command metrics name them
		return o
	}
	return "other"
}

// reasonError is a permanent error of a known kind (see PoisonReasons).
type reasonError struct {
	kind string
	err  error
}

func (e reasonError) Error() string { return e.err.Error() }
func (e reasonError) Unwrap() error { return e.err }

// refuse is a permanent error of a kind.
func refuse(kind string, err error) error { return permanent(reasonError{kind, err}) }

type commandHandlers struct {
	cmds     app.Commands
	maxBytes int
}

var seedFields = []string{"recipientId", "content", "category"}

// seed handles the original service's send payload.
func (h commandHandlers) seed(msg *message.Message) error {
	var p SeedPayload
	if err := h.decode(msg, &p, seedFields, &p.RecipientID, &p.Content, &p.Category); err != nil {
		return err
	}
	_, err := h.cmds.Send.Handle(msg.Context(), command.SendNotification{
		Meta: h.meta(msg, Envelope{}), RecipientID: p.RecipientID, Content: p.Content, Category: p.Category,
	})
	return err
}

// envelopeFields are the envelope's string fields, which the fast path reads (envelopeDst
// lists them in this order); data, actions and tags are not strings, so a send with them
// takes encoding/json.
var envelopeFields = []string{"type", "commandId", "correlationId", "notificationId", "recipientId", "content", "category", "title", "actionUrl"}

func envelopeDst(e *Envelope) []*string {
	return []*string{&e.Type, &e.CommandID, &e.CorrelationID, &e.NotificationID, &e.RecipientID, &e.Content, &e.Category, &e.Title, &e.ActionURL}
}

// typed handles a command envelope.
func (h commandHandlers) typed(msg *message.Message) error {
	var e Envelope
	if err := h.decode(msg, &e, envelopeFields, envelopeDst(&e)...); err != nil {
		return err
	}
	ctx, meta := msg.Context(), h.meta(msg, e)
	var err error
	switch e.Type {
	case TypeSend:
		_, err = h.cmds.Send.Handle(ctx, command.SendNotification{Meta: meta, NotificationID: e.NotificationID, RecipientID: e.RecipientID, Content: e.Content, Category: e.Category, Rich: e.rich()})
	case TypeRead:
		_, err = h.cmds.Read.Handle(ctx, command.ReadNotification{Meta: meta, NotificationID: e.NotificationID})
	case TypeUnread:
		_, err = h.cmds.Unread.Handle(ctx, command.UnreadNotification{Meta: meta, NotificationID: e.NotificationID})
	case TypeCancel:
		_, err = h.cmds.Cancel.Handle(ctx, command.CancelNotification{Meta: meta, NotificationID: e.NotificationID})
	case TypeSee:
		_, err = h.cmds.See.Handle(ctx, command.SeeNotification{Meta: meta, NotificationID: e.NotificationID})
	case TypeArchive:
		_, err = h.cmds.Archive.Handle(ctx, command.ArchiveNotification{Meta: meta, NotificationID: e.NotificationID})
	case TypeUnarchive:
		_, err = h.cmds.Unarchive.Handle(ctx, command.UnarchiveNotification{Meta: meta, NotificationID: e.NotificationID})
	default:
		return refuse("unknown_type", fmt.Errorf("unknown command type %q: want %s, %s, %s, %s, %s, %s or %s", e.Type,
			TypeSend, TypeRead, TypeUnread, TypeCancel, TypeSee, TypeArchive, TypeUnarchive))
	}
	return err
}

// decode reads the payload into v, whose string fields are fields (named names): by the
// fast path when it applies, else by encoding/json.
func (h commandHandlers) decode(msg *message.Message, v any, names []string, fields ...*string) error {
	if len(msg.Payload) > h.maxBytes {
		return refuse("too_large", fmt.Errorf("message of %d bytes exceeds the limit of %d", len(msg.Payload), h.maxBytes))
	}
	if decodeFlat(msg.Payload, names, fields) {
		return nil
	}
	for _, f := range fields {
		*f = "" // the fast path may have set some before it gave up
	}
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return refuse("malformed", fmt.Errorf("field %s must be a %s, not %s", typ.Field, typ.Type, typ.Value))
		}
		return refuse("malformed", fmt.Errorf("malformed JSON: %w", err))
	}
	return nil
}

// meta finds the command id: the envelope's commandId, the command-id header, the Watermill
// message UUID, else topic/partition/offset, which a redelivery of the same record repeats.
func (h commandHandlers) meta(msg *message.Message, e Envelope) command.Meta {
	id := first(e.CommandID, msg.Metadata.Get(HeaderCommandID), msg.UUID)
	if id == "" {
		r, _ := kafkasub.RecordFromCtx(msg.Context())
		id = fmt.Sprintf("%s/%d/%d", message.SubscribeTopicFromCtx(msg.Context()), r.Partition, r.Offset)
	}
	return command.Meta{CommandID: id, CorrelationID: first(e.CorrelationID, msg.Metadata.Get(HeaderCorrelationID))}
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
