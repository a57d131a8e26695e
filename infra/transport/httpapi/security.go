package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// Security is how the API authenticates, authorizes and limits callers. The zero value is
// the development mode: no authentication (the service refuses to serve it beyond loopback
// unless told it is insecure), no rate limit, no request timeout.
type Security struct {
	// Auth identifies callers; nil or disabled means every caller is anonymous and allowed.
	Auth *auth.Authenticator
	// RatePerSecond and Burst limit each credential (API key, token subject, or the client
	// IP for callers without credentials); RatePerSecond 0 turns the limit off.
	RatePerSecond float64
	Burst         int
	// RequestTimeout bounds each request's context; 0 means no bound.
	RequestTimeout time.Duration
}

// Errors of the trust boundary; problemFor maps them.
var (
	errUnauthenticated = errors.New("authentication required: send an X-Api-Key header (services) or an Authorization: Bearer token (recipients)")
	errForbidden       = errors.New("these credentials may not use this route")
	// errNotYours answers a recipient who asks for another recipient's inbox: 404, as if it
	// were not there, so nothing about other inboxes leaks.
	errNotYours = errors.New("not found")
)

// rateLimitedError is a caller over its rate; RetryAfter says when to come back.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string {
	return "too many requests for these credentials; retry after the Retry-After seconds"
}

const principalKey = "notify.principal"

// policy names who may call a route.
type policy int

const (
	// public routes need no credentials (health, readiness).
	public policy = iota
	// sender routes need an API key with the send scope.
	sender
	// changer routes take a send key, or a recipient token for the recipient's own
	// notifications (the command handler checks ownership).
	changer
	// inboxReader routes take the recipient's own token or an admin key; the recipient is the
	// path parameter recipientId.
	inboxReader
	// admin routes need an API key with the admin scope.
	admin
	// inboxChanger routes take the recipient's own token or a send key; the recipient is the
	// :recipientId path parameter.
	inboxChanger
	// noteReader routes take an admin key or a recipient token; the handler answers 404 when
	// the notification is not the token's recipient's.
	noteReader
)

// guard authenticates the caller, applies the rate limit of its credential, and records the
// principal for the route policies. A request with bad credentials is limited by client IP
// before it is refused, so guessing keys or tokens is throttled too.
func (s Security) guard(lim *limiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.authenticate(c)
			// The key costs a header parse and an allocation: only when limiting. /healthz is
			// a constant answer: a liveness probe must not fail because its caller's bucket is
			// spent by other requests (but failed credentials count there too: no free guesses).
			if lim != nil && (c.Path() != "/healthz" || err != nil) {
				key := "ip:" + c.RealIP()
				if err == nil && p.Kind != auth.Anonymous {
					key = p.Subject
					if p.Kind == auth.Recipient {
						key = "sub:" + p.Subject
					}
				}
				if wait, ok := lim.allow(key, time.Now()); !ok {
					return &rateLimitedError{retryAfter: wait}
				}
			}
			if err != nil {
				return err
			}
			if p.Kind != auth.Anonymous {
				c.Set(principalKey, p) // absent reads as the anonymous zero value
			}
			if s.RequestTimeout > 0 && c.Path() != streamRoute { // a stream lasts until the client leaves
				ctx, cancel := context.WithTimeout(c.Request().Context(), s.RequestTimeout)
				defer cancel()
				c.SetRequest(c.Request().WithContext(ctx))
			}
			return next(c)
		}
	}
}

// QueryAccessToken is the query parameter that carries a recipient's token on the live
// stream route, and only there: a browser's EventSource cannot send an Authorization header.
const QueryAccessToken = "access_token"

var (
	errTokenTwice    = fmt.Errorf("%w: send the token once: as access_token or in a header, not both", auth.ErrInvalidCredentials)
	errTokenRepeated = fmt.Errorf("%w: access_token is given more than once", auth.ErrInvalidCredentials)
)

// authenticate identifies the caller from its headers, or on the stream route from an
// access_token in the query. The token is never logged (the access log and the spans record
// the path without its query) nor echoed in an answer.
func (s Security) authenticate(c echo.Context) (auth.Principal, error) {
	req := c.Request()
	if c.Path() == streamRoute && req.URL.RawQuery != "" && s.Auth.Enabled() {
		switch toks := c.QueryParams()[QueryAccessToken]; {
		case len(toks) > 1:
			return auth.Principal{}, errTokenRepeated
		case len(toks) == 1 && toks[0] != "":
			if req.Header.Get("Authorization") != "" || req.Header.Get(auth.HeaderAPIKey) != "" {
				return auth.Principal{}, errTokenTwice
			}
			return s.Auth.AuthenticateToken(toks[0])
		}
	}
	return s.Auth.Authenticate(req.Header)
}

// principal returns the caller that guard recorded.
func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	return p
}

// allow applies a route's policy to the caller.
func (s Security) allow(pol policy) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if pol == public || !s.Auth.Enabled() {
				return next(c)
			}
			p := principal(c)
			switch {
			case p.Kind == auth.Anonymous:
				return errUnauthenticated
			case pol == sender && p.Has(auth.ScopeSend),
				pol == changer && (p.Has(auth.ScopeSend) || p.Kind == auth.Recipient),
				pol == inboxReader && p.Has(auth.ScopeAdmin),
				pol == admin && p.Has(auth.ScopeAdmin),
				pol == inboxChanger && p.Has(auth.ScopeSend),
				pol == noteReader && (p.Has(auth.ScopeAdmin) || p.Kind == auth.Recipient):
				return next(c)
			case (pol == inboxReader || pol == inboxChanger) && p.Kind == auth.Recipient:
				if param(c, "recipientId") != p.Subject {
					return errNotYours
				}
				return next(c)
			}
			return fmt.Errorf("%w: it needs %s", errForbidden, pol.needs())
		}
	}
}

// needs says who may use a route of the policy, for the 403's detail.
func (pol policy) needs() string {
	switch pol {
	case sender:
		return "an API key with scope send"
	case changer:
		return "an API key with scope send, or the recipient's own token"
	case inboxReader:
		return "the recipient's own token, or an API key with scope admin"
	case inboxChanger:
		return "the recipient's own token, or an API key with scope send"
	case noteReader:
		return "the recipient's own token, or an API key with scope admin"
	default:
		return "an API key with scope admin"
	}
}
