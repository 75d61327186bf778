package console

import (
	"html/template"
	"net/http"
)

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Better Read coordinator: log in</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; }
input[type=password] { width: 100%; padding: .4rem; margin: .5rem 0 1rem; box-sizing: border-box; }
.error { color: #b00020; }
</style>
</head>
<body>
<h1>Better Read coordinator</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<label for="token">API token (<code>BETTERREAD_API_TOKEN</code>)</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">Log in</button>
</form>
</body>
</html>
`))

// renderLogin writes the login form; next is already a local path.
func renderLogin(w http.ResponseWriter, code int, next, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(code)
	_ = loginPage.Execute(w, struct{ Next, Error string }{next, msg})
}
