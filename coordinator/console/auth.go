// Package console is the coordinator's HTTP front door for people and
// scripts: it guards pages and the API with one token. API clients send
// `Authorization: Bearer TOKEN`; browsers log in once through a small form
// (GET /login) and then carry a session cookie. Later it will also host
// the UI pages.
//
// Answers, the same for every guarded path:
//
//	no credentials, or an unknown or expired session cookie
//	    a page (GET or HEAD accepting text/html): 303 to /login?next=PATH
//	    anything else: 401 with WWW-Authenticate: Bearer realm="betterread"
//	a wrong bearer token: 403
//
// Cross-origin browser requests that change state (POST, DELETE, ...)
// are refused by http.CrossOriginProtection, on top of the cookie's
// SameSite=Strict.
package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "betterread_session"

// SessionTTL is how long a browser stays logged in.
const SessionTTL = 12 * time.Hour

// maxLoginBody bounds a POST /login body, bytes.
const maxLoginBody = 4 << 10

// Auth checks the API token and keeps the browser sessions of one process
// (a restart logs browsers out).
type Auth struct {
	token    [32]byte // SHA-256 of the token: compared in constant time without revealing its length
	home     string   // where a login without a next goes
	log      *slog.Logger
	csrf     *http.CrossOriginProtection
	sessions sessions
}

// New returns the guard for token. home is the local path a login
// without ?next= lands on.
func New(token, home string, logger *slog.Logger) (*Auth, error) {
	if token == "" {
		return nil, errors.New("console: empty API token")
	}
	if !localPath(home) {
		return nil, errors.New("console: home " + home + " is not a local path")
	}
	return &Auth{
		token: sha256.Sum256([]byte(token)), home: home, log: logger,
		csrf:     http.NewCrossOriginProtection(),
		sessions: sessions{ttl: SessionTTL, now: time.Now, byHash: map[[32]byte]time.Time{}},
	}, nil
}

// verdict is what a request's credentials are worth.
type verdict int

const (
	missing verdict = iota // none, or a session that is no more
	wrong                  // a bearer token that is not the token
	allowed
)

func (a *Auth) check(r *http.Request) verdict {
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if ok && a.isToken(token) {
			return allowed
		}
		return wrong
	}
	if c, err := r.Cookie(CookieName); err == nil && a.sessions.valid(c.Value) {
		return allowed
	}
	return missing
}

func (a *Auth) isToken(s string) bool {
	sum := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
}

// Require passes requests with the token or a live session to next and
// answers the rest (see the package comment).
func (a *Auth) Require(next http.Handler) http.Handler {
	return a.csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch a.check(r) {
		case allowed:
			next.ServeHTTP(w, r)
		case wrong:
			a.log.Warn("auth_rejected", "reason", "wrong_token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "wrong token")
		default:
			if isPage(r) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="betterread"`)
			writeError(w, http.StatusUnauthorized, "missing Authorization: Bearer token (browsers: log in at /login)")
		}
	}))
}

// Routes adds GET and POST /login and POST /logout to mux.
func (a *Auth) Routes(mux *http.ServeMux) {
	mux.Handle("GET /login", http.HandlerFunc(a.loginForm))
	mux.Handle("POST /login", a.csrf.Handler(http.HandlerFunc(a.login)))
	mux.Handle("POST /logout", a.csrf.Handler(http.HandlerFunc(a.logout)))
}

func (a *Auth) loginForm(w http.ResponseWriter, r *http.Request) {
	renderLogin(w, http.StatusOK, a.next(r.URL.Query().Get("next")), "")
}

// login checks the posted token and, when it is right, starts a session
// and goes on to next.
func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		renderLogin(w, http.StatusBadRequest, a.home, "That form could not be read.")
		return
	}
	next := a.next(r.PostForm.Get("next"))
	if !a.isToken(r.PostForm.Get("token")) {
		a.log.Warn("login_failed", "remote", r.RemoteAddr)
		renderLogin(w, http.StatusForbidden, next, "Wrong token.")
		return
	}
	id := a.sessions.start()
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	})
	a.log.Info("login", "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session (the cookie is worth nothing afterwards, even
// if kept) and clears the cookie.
func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		a.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// next is where to go after logging in: s if it is a path on this
// server, else home.
func (a *Auth) next(s string) string {
	if localPath(s) {
		return s
	}
	return a.home
}

// localPath reports whether s is a path on this server: it starts with
// one '/', not "//" or "/\" (which browsers read as another host), and
// holds no scheme, host, backslash or control character.
func localPath(s string) bool {
	if len(s) == 0 || s[0] != '/' || strings.HasPrefix(s, "//") || strings.ContainsRune(s, '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == ""
}

// isPage reports whether r is a browser loading a page, which is sent to
// the login form rather than answered 401.
func isPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isHTTPS reports whether the browser reached us over TLS, directly or
// through a proxy that terminates it (the header can only make the
// cookie stricter).
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// sessions are the live browser sessions, by the SHA-256 of their random
// id (so a lookup's timing says nothing about the ids).
type sessions struct {
	ttl    time.Duration
	now    func() time.Time
	mu     sync.Mutex
	byHash map[[32]byte]time.Time // expiry
}

// start makes a new session and returns its id, 128 random bits. Expired
// sessions are dropped here, so the map holds only live ones.
func (s *sessions) start() string {
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for h, exp := range s.byHash {
		if !now.Before(exp) {
			delete(s.byHash, h)
		}
	}
	s.byHash[sha256.Sum256([]byte(id))] = now.Add(s.ttl)
	return id
}

func (s *sessions) valid(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.byHash[sha256.Sum256([]byte(id))]
	return ok && s.now().Before(exp)
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, sha256.Sum256([]byte(id)))
}
