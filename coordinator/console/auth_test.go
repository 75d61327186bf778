package console

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const token = "right-token-0123456789"

// newTestAuth returns an Auth guarding a handler that answers 200 "ok",
// with its login routes, behind one mux.
func newTestAuth(t *testing.T) (*Auth, http.Handler) {
	t.Helper()
	a, err := New(token, "/monitor/", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("/", a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))
	return a, mux
}

func do(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// login posts the token and returns the session cookie.
func login(t *testing.T, h http.Handler, tok, next string) *http.Response {
	t.Helper()
	form := url.Values{"token": {tok}, "next": {next}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(h, r)
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", CookieName, resp.Header)
	return nil
}

func TestAuthAnswers(t *testing.T) {
	t.Parallel()
	_, h := newTestAuth(t)
	cookie := sessionCookie(t, login(t, h, token, ""))
	for _, tc := range []struct {
		name     string
		header   map[string]string
		cookie   *http.Cookie
		want     int
		location string
	}{
		{name: "no token", want: http.StatusUnauthorized},
		{name: "no token, browser", header: map[string]string{"Accept": "text/html,application/xhtml+xml"}, want: http.StatusSeeOther,
			location: "/login?next=%2Fruns%3Fx%3D1"},
		{name: "wrong bearer", header: map[string]string{"Authorization": "Bearer nope"}, want: http.StatusForbidden},
		{name: "wrong bearer, browser", header: map[string]string{"Authorization": "Bearer nope", "Accept": "text/html"}, want: http.StatusForbidden},
		{name: "token as basic", header: map[string]string{"Authorization": "Basic " + token}, want: http.StatusForbidden},
		{name: "token prefix", header: map[string]string{"Authorization": "Bearer " + token[:5]}, want: http.StatusForbidden},
		{name: "right bearer", header: map[string]string{"Authorization": "Bearer " + token}, want: http.StatusOK},
		{name: "session cookie", cookie: cookie, want: http.StatusOK},
		{name: "unknown cookie", cookie: &http.Cookie{Name: CookieName, Value: "forged"}, want: http.StatusUnauthorized},
		{name: "raw token as cookie", cookie: &http.Cookie{Name: CookieName, Value: token}, want: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/runs?x=1", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			resp := do(h, r)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (tc.want == http.StatusUnauthorized) != (got == `Bearer realm="betterread"`) {
				t.Errorf("WWW-Authenticate %q with status %d", got, resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
		})
	}
}

func TestLoginCookie(t *testing.T) {
	t.Parallel()
	_, h := newTestAuth(t)
	resp := login(t, h, token, "/monitor/queues/blocks")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/monitor/queues/blocks" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := sessionCookie(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie over plain HTTP: %+v, want HttpOnly, SameSite=Strict, Path=/, not Secure", c)
	}
	if c.Value == "" || strings.Contains(c.Value, token) {
		t.Errorf("cookie value %q is empty or carries the token", c.Value)
	}
	if c.MaxAge <= 0 {
		t.Errorf("cookie MaxAge %d", c.MaxAge)
	}

	// Over TLS, directly or behind a proxy that terminates it: Secure.
	for name, set := range map[string]func(*http.Request){
		"tls":   func(r *http.Request) { r.TLS = &tls.ConnectionState{} },
		"proxy": func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") },
	} {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token="+url.QueryEscape(token)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		set(r)
		if c := sessionCookie(t, do(h, r)); !c.Secure {
			t.Errorf("%s: cookie not Secure", name)
		}
	}
}

func TestLoginForm(t *testing.T) {
	t.Parallel()
	_, h := newTestAuth(t)
	resp := do(h, httptest.NewRequest(http.MethodGet, "/login?next=%2Fruns", nil))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /login: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<form method="post" action="/login">`, `type="password"`, `name="next" value="/runs"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("login form lacks %s:\n%s", want, body)
		}
	}

	resp = login(t, h, "wrong", "/runs")
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Wrong token") || len(resp.Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v\n%s", resp.StatusCode, resp.Cookies(), body)
	}

	// A cross-site form post (CSRF) is refused before the token is looked at.
	form := url.Values{"token": {token}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp := do(h, r); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

func TestLoginRefusesOpenRedirect(t *testing.T) {
	t.Parallel()
	_, h := newTestAuth(t)
	for _, next := range []string{
		"https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example", "evil.example",
		"javascript:alert(1)", "/ok\r\nSet-Cookie: x=y", "/ok\tx", "", "http:/evil.example",
	} {
		resp := login(t, h, token, next)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/monitor/" {
			t.Errorf("next %q: %d to %q, want the home page /monitor/", next, resp.StatusCode, loc)
		}
		r := httptest.NewRequest(http.MethodGet, "/login?next="+url.QueryEscape(next), nil)
		body, _ := io.ReadAll(do(h, r).Body)
		if !strings.Contains(string(body), `name="next" value="/monitor/"`) {
			t.Errorf("form for next %q does not fall back to /monitor/:\n%s", next, body)
		}
	}
	for _, next := range []string{"/runs", "/monitor/queues/blocks?tab=pending", "/runs/abc"} {
		if loc := login(t, h, token, next).Header.Get("Location"); loc != next {
			t.Errorf("next %q: redirect to %q", next, loc)
		}
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	_, h := newTestAuth(t)
	c := sessionCookie(t, login(t, h, token, ""))
	r := httptest.NewRequest(http.MethodPost, "/logout", nil)
	r.AddCookie(c)
	resp := do(h, r)
	if cleared := sessionCookie(t, resp); resp.StatusCode != http.StatusSeeOther || cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("logout: %d, cookie %+v", resp.StatusCode, cleared)
	}
	// The old cookie, kept by someone, is worth nothing now.
	r = httptest.NewRequest(http.MethodGet, "/runs", nil)
	r.AddCookie(c)
	if resp := do(h, r); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old cookie after logout: %d", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	a, h := newTestAuth(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.sessions.now = func() time.Time { return now }
	c := sessionCookie(t, login(t, h, token, ""))
	get := func() int {
		r := httptest.NewRequest(http.MethodGet, "/runs", nil)
		r.AddCookie(c)
		return do(h, r).StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("fresh session: %d", code)
	}
	now = now.Add(SessionTTL)
	if code := get(); code != http.StatusUnauthorized {
		t.Errorf("session after %v: %d", SessionTTL, code)
	}
	sessionCookie(t, login(t, h, token, "")) // drops the expired one
	if n := len(a.sessions.byHash); n != 1 {
		t.Errorf("%d sessions kept, want only the live one", n)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	if _, err := New("", "/", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepted an empty token")
	}
	if _, err := New("t", "//evil", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepted a home on another host")
	}
}
