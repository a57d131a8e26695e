package httpapi

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/net/idna"
)

// corsAllowHeaders are the request headers a web page may send: a recipient's token, a
// body's type, a command's identity, read-your-writes and a stream's resume. X-Api-Key is not
// among them: service keys do not belong in browsers.
var corsAllowHeaders = []string{
	echo.HeaderAuthorization, echo.HeaderContentType, "Idempotency-Key", HeaderMinPosition,
	HeaderLastEventID, "X-Correlation-Id", echo.HeaderXRequestID,
}

// corsExposeHeaders are the response headers a page's script may read besides the safelisted
// ones: a command's log position, when to retry, and where a created notification is.
var corsExposeHeaders = []string{HeaderPosition, echo.HeaderRetryAfter, echo.HeaderLocation}

// corsMaxAge is how long a browser may keep a preflight's answer, in seconds.
const corsMaxAge = 600

// cors lets pages of the given origins call the API from a browser (no cookies: credentials
// are a bearer token the page sends). Echo's middleware answers preflights (the methods are
// the route's own, from the router) before the guard; a response to an origin not listed
// carries no Access-Control-Allow-Origin, so the browser keeps it from the page. The /ui
// routes answer for themselves.
func cors(origins []string) echo.MiddlewareFunc {
	cfg := middleware.CORSConfig{
		Skipper:       func(c echo.Context) bool { return strings.HasPrefix(c.Path(), "/ui/") },
		AllowHeaders:  corsAllowHeaders,
		ExposeHeaders: corsExposeHeaders,
		MaxAge:        corsMaxAge,
	}
	if len(origins) == 1 && origins[0] == "*" {
		cfg.AllowOrigins = origins
	} else {
		// Exact matches only: Echo's AllowOrigins would read * and ? in an entry as wildcards.
		allowed := make(map[string]bool, len(origins))
		for _, o := range origins {
			allowed[o] = true
		}
		cfg.AllowOriginFunc = func(origin string) (bool, error) { return allowed[origin], nil }
	}
	return middleware.CORSWithConfig(cfg)
}

// ParseCORSOrigins reads a comma-separated list of origins as browsers send them in Origin
// (scheme://host[:port], lower case, no default port, no path), or "*" alone for any page.
// Each entry that a browser would never send is refused with the form it would.
func ParseCORSOrigins(spec string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(spec, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o == "*" {
			out = append(out, o)
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("%q: %w", o, err)
		}
		out = append(out, o)
	}
	if len(out) > 1 {
		for _, o := range out {
			if o == "*" {
				return nil, fmt.Errorf("\"*\" allows every origin: give it alone, or only exact origins")
			}
		}
	}
	return out, nil
}

func checkOrigin(o string) error {
	if o == "null" {
		return fmt.Errorf("the null origin is any sandboxed or file:// page; it cannot be allowed")
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("want an origin such as https://app.example.com or http://localhost:5173")
	}
	if u.User != nil || strings.Contains(o, "*") {
		return fmt.Errorf("an origin is scheme://host[:port] exactly (no user, no wildcard)")
	}
	want, err := originAsSent(u)
	if err != nil {
		return err
	}
	switch {
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return fmt.Errorf("an origin has no path, query or fragment; browsers send %q", want)
	case want != o:
		return fmt.Errorf("browsers send it as %q", want)
	}
	return nil
}

// originAsSent is the Origin header a browser sends for a page at u (the WHATWG URL
// serialisation of its origin): the host in lower case and, for a name beyond ASCII, in
// punycode; an IP address in its canonical form; no default port. A host or port no browser
// would send is an error.
func originAsSent(u *url.URL) (string, error) {
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("the port after the colon is missing")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("the port must be a number from 1 to 65535 without leading zeros")
		}
		if (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
			port = ""
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4In6() {
			return "", fmt.Errorf("an IPv4-mapped IPv6 address: write the IPv4 address (%s)", ip.Unmap())
		}
		host = ip.String()
	} else {
		if allDigitsAndDots(host) {
			return "", fmt.Errorf("%q is not an IP address as browsers write one (no leading zeros)", host)
		}
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", fmt.Errorf("the host %q is not a valid name: %v", host, err)
		}
		host = ascii
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

func allDigitsAndDots(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}
