package main

// Administration: ADMIN_EMAILS and ADMIN_GROUPS name the administrators,
// who can list every user with their usage and disable or enable one.
// Disabling deletes every token and session of the user from the store,
// which every instance reads at each request, so they stop working at the
// next request everywhere; the disabled flag then refuses the user's
// sign-in.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "embed"
)

// adminUserJSON is a user as the admin API shows it.
type adminUserJSON struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	CreatedAt  *time.Time `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	Usage      usageJSON  `json:"usage"`
	Disabled   bool       `json:"disabled"`
	Account    bool       `json:"account"` // signs in with a password (accounts.go), so may be re-invited
}

// errNotAdmin: the signed-in user is not on ADMIN_EMAILS nor in ADMIN_GROUPS.
var errNotAdmin = errors.New("not an administrator")

// adminUser returns the signed-in user if they are an administrator: their
// email is on ADMIN_EMAILS and the provider verified it (any account can
// claim any address; with no allow-list set, sign-in takes it unverified),
// or one of their groups, as the provider listed them at their last
// sign-in, is on ADMIN_GROUPS. A user named by a trusted proxy has no
// stored record and never is.
func (s *server) adminUser(ctx context.Context, userID string) (User, error) {
	u, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, errNotAdmin
	case err != nil:
		return User{}, err
	case u.Admin && u.Issuer == accountsIssuer && s.cfg.accountsSignIn():
		return u, nil // made an administrator by its invitation
	case !adminByEmail(s.cfg, u) && !inAnyGroup(u.Groups, s.cfg.AdminGroups):
		return User{}, errNotAdmin
	}
	return u, nil
}

// adminByEmail tells whether the user's verified email is on ADMIN_EMAILS.
func adminByEmail(cfg *config, u User) bool {
	return u.Email != "" && u.EmailVerified && slices.Contains(cfg.AdminEmails, strings.ToLower(u.Email))
}

// requireAdmin answers 403 to a signed-in user who is not an administrator
// (requireUser, around it, has answered 401 to anyone signed out and
// checked that a cookie-authenticated change comes from our origin).
func (s *server) requireAdmin(h adminHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, userID string) {
		admin, err := s.adminUser(r.Context(), userID)
		if errors.Is(err, errNotAdmin) {
			writeError(w, http.StatusForbidden, codeForbidden, "only administrators (ADMIN_EMAILS, ADMIN_GROUPS) may do this")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, admin)
	}
}

// handleAdminUsers handles "GET /admin/users": every user with their usage.
func (s *server) handleAdminUsers(w http.ResponseWriter, r *http.Request, admin User) {
	users, err := s.adminUserList(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

// adminUserList is every user as the admin API and page show them; the
// usage of all comes from one store call, not one per user.
func (s *server) adminUserList(ctx context.Context) ([]adminUserJSON, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	usage, err := s.store.UsageByOwner(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, adminUserJSON{
			ID: u.ID, Email: u.Email, Name: u.Name, Disabled: u.Disabled, Usage: s.toUsageJSON(usage[u.ID]),
			Account:   u.Issuer == accountsIssuer,
			CreatedAt: timeOrNil(u.CreatedAt), LastSeenAt: timeOrNil(u.LastSeenAt),
		})
	}
	return out, nil
}

// handleAdminDisable handles "POST /admin/users/{id}/disable".
func (s *server) handleAdminDisable(w http.ResponseWriter, r *http.Request, admin User) {
	s.setDisabled(w, r, admin, true)
}

// handleAdminEnable handles "POST /admin/users/{id}/enable".
func (s *server) handleAdminEnable(w http.ResponseWriter, r *http.Request, admin User) {
	s.setDisabled(w, r, admin, false)
}

// setDisabled disables (or enables) a user. The flag is set before the
// credentials are deleted: a sign-in that races with it either sees the
// flag or made its credential before the deletion.
func (s *server) setDisabled(w http.ResponseWriter, r *http.Request, admin User, disabled bool) {
	target, ok := s.adminTarget(w, r)
	if !ok {
		return
	}
	if disabled && target.ID == admin.ID {
		writeError(w, http.StatusConflict, codeConflict, "you cannot disable yourself")
		return
	}
	err := s.store.SetUserDisabled(r.Context(), target.ID, disabled)
	if err == nil && disabled {
		err = s.disabledInTurn(r.Context(), admin, target)
	}
	if errors.Is(err, errDisabledInTurn) {
		writeError(w, http.StatusConflict, codeConflict, "your own account was disabled meanwhile, so this user was not; try again")
		return
	}
	revoked := 0
	if err == nil && disabled {
		revoked, err = s.store.DeleteUserCredentials(r.Context(), target.ID)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	audit(s.log, r, admin, map[bool]string{true: "disable", false: "enable"}[disabled], target, "revoked_credentials", revoked)
	if wantsHTMLRedirect(r) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	target.Disabled = disabled
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(target), "disabled": disabled, "revoked_credentials": revoked})
}

// errDisabledInTurn: the acting administrator was disabled while
// disabling someone, whose disable was undone.
var errDisabledInTurn = errors.New("the administrator was disabled meanwhile")

// disabledInTurn reads the acting administrator again once the target's
// flag is set, and undoes that flag if the administrator was disabled
// meanwhile: two administrators disabling each other at once would
// otherwise leave none to enable either. Each reads itself after setting
// the other, so of two such disables at most one stands. A target that
// was disabled already is left so.
func (s *server) disabledInTurn(ctx context.Context, admin, target User) error {
	disabled, err := s.refuseDisabled(ctx, admin.ID)
	if err != nil || !disabled {
		return err
	}
	if !target.Disabled {
		if err := s.store.SetUserDisabled(ctx, target.ID, false); err != nil {
			return err
		}
	}
	return errDisabledInTurn
}

// ---- The admin page ----

// invitationJSON is an invitation as the admin API shows it, once.
type invitationJSON struct {
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

//go:embed admin.html
var adminHTML string

// adminPage is what admin.html shows; html/template escapes every field.
type adminPage struct {
	Admin    User
	Users    []adminPageUser
	Accounts bool            // SIGNIN has accounts: show the invitation form
	Invited  *invitationJSON // the invitation just made, shown once
	Error    string          // why an invitation was refused, above its form
}

// adminPageUser is one row of the page.
type adminPageUser struct {
	adminUserJSON
	Self     bool
	Percent  int    // of the byte quota, 0..100; 0 without a quota
	Used     string // the usage in human units, against the quota
	LastSeen string // humanTime of LastSeenAt; "" for never
}

// newAdminPageView parses admin.html.
func newAdminPageView() *adminPageView {
	return &adminPageView{tmpl: parsePage("admin.html", adminHTML), csp: loginCSP(adminHTML)}
}

// handleAdminPage handles "GET /admin/": the users, their usage against the
// quota, and Disable/Enable buttons that post to the admin API. Signed out,
// the browser is sent to sign in; a non-administrator gets a 403 page.
func (s *server) handleAdminPage(w http.ResponseWriter, r *http.Request) {
	secret, ok := s.sessionSecret(r)
	if !ok {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	who, err := s.findPrincipal(r.Context(), kindSession, secret)
	if errors.Is(err, errUnauthenticated) {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	var admin User
	if err == nil {
		admin, err = s.adminUser(r.Context(), who.userID)
	}
	if errors.Is(err, errNotAdmin) {
		s.renderError(w, http.StatusForbidden, "Only administrators (ADMIN_EMAILS, ADMIN_GROUPS) may open this page.")
		return
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.showAdminPage(w, r, http.StatusOK, adminPage{Admin: admin})
}

// showAdminPage renders the page for p.Admin with status, its users read
// now, and the invitation just made or the reason one was refused, if
// any.
func (s *server) showAdminPage(w http.ResponseWriter, r *http.Request, status int, p adminPage) {
	users, err := s.adminUserList(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	p.Users, p.Accounts = s.pageRows(users, p.Admin.ID), s.cfg.accountsSignIn()
	w.Header().Set("Content-Security-Policy", s.adminView.csp)
	s.renderHTML(w, status, s.adminView.tmpl, p)
}

// pageRows adds what the page shows beside the API's fields.
func (s *server) pageRows(users []adminUserJSON, self string) []adminPageUser {
	rows := make([]adminPageUser, len(users))
	for i, u := range users {
		rows[i] = adminPageUser{adminUserJSON: u, Self: u.ID == self, Used: s.usageText(u.Usage)}
		if u.LastSeenAt != nil {
			rows[i].LastSeen = humanTime(*u.LastSeenAt)
		}
		if q := s.cfg.QuotaBytes; q > 0 {
			rows[i].Percent = int(min(100, u.Usage.Bytes*100/q))
		}
	}
	return rows
}

// usageText is a row's usage for people: "1.5 MiB of 5.0 GiB, 3 of 100
// files", or "1 file". The noun agrees with the number just before it.
func (s *server) usageText(u usageJSON) string {
	text := humanSize(u.Bytes)
	if u.QuotaBytes != nil {
		text += " of " + humanSize(*u.QuotaBytes)
	}
	if u.QuotaFiles == nil {
		return text + ", " + plural(u.Files, "file")
	}
	return text + ", " + strconv.FormatInt(u.Files, 10) + " of " + plural(*u.QuotaFiles, "file")
}

// ---- Invitations ----

// handleAdminInvite handles "POST /admin/invitations": a JSON body
// {"email", "admin"} from the API, or the admin page's form, which gets
// the page back with the link on it.
func (s *server) handleAdminInvite(w http.ResponseWriter, r *http.Request, admin User) {
	var req struct {
		Email string `json:"email"`
		Admin bool   `json:"admin"`
	}
	page := wantsHTMLRedirect(r)
	if page {
		body, ok := s.readForm(w, r)
		if !ok {
			return
		}
		v, _ := url.ParseQuery(body)
		req.Email, req.Admin = v.Get("email"), v.Get("admin") != ""
	} else if !readJSON(w, r, &req, bodyRequired) {
		return
	}
	email := normalEmail(req.Email)
	if !validEmail(email) {
		s.refuseInvitation(w, r, admin, page, http.StatusBadRequest, codeInvalidRequest, "email must be an email address")
		return
	}
	s.answerInvitation(w, r, admin, email, req.Admin, page)
}

// handleAdminReinvite handles "POST /admin/users/{id}/reinvite": a new
// invitation for an account, with which its owner sets a new password;
// the old one works until the invitation is used.
func (s *server) handleAdminReinvite(w http.ResponseWriter, r *http.Request, admin User) {
	target, ok := s.adminTarget(w, r)
	if !ok {
		return
	}
	if target.Issuer != accountsIssuer {
		writeError(w, http.StatusConflict, codeConflict, "this user signs in with the OpenID provider, not with a password")
		return
	}
	s.answerInvitation(w, r, admin, target.Subject, false, wantsHTMLRedirect(r))
}

// answerInvitation creates the invitation, audits it (never with its
// link) and shows the link once: as JSON, or on the admin page.
func (s *server) answerInvitation(w http.ResponseWriter, r *http.Request, admin User, email string, makeAdmin, page bool) {
	if !s.cfg.accountsSignIn() {
		s.refuseInvitation(w, r, admin, page, http.StatusConflict, codeConflict, "accounts are off: set SIGNIN=accounts (or oidc,accounts)")
		return
	}
	if !memberAllowed(s.cfg, member{email: email}) {
		s.refuseInvitation(w, r, admin, page, http.StatusBadRequest, codeInvalidRequest, "this email is not on ALLOWED_EMAILS or ALLOWED_EMAIL_DOMAINS, so its account could not be used")
		return
	}
	link, inv, err := createInvitation(r.Context(), s.store, s.publicURL, email, makeAdmin, s.cfg.InvitationTTL, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	audit(s.log, r, admin, "invite", User{Email: email}, "admin", makeAdmin)
	out := invitationJSON{Email: inv.Email, Admin: inv.Admin, URL: link, ExpiresAt: inv.ExpiresAt}
	if page {
		s.showAdminPage(w, r, http.StatusOK, adminPage{Admin: admin, Invited: &out})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitation": out})
}

// refuseInvitation answers an invitation refused with status: the API's
// error, or for the admin page's form, the page with msg above the form
// (review 16: the form got the API's JSON).
func (s *server) refuseInvitation(w http.ResponseWriter, r *http.Request, admin User, page bool, status int, code, msg string) {
	if page {
		s.showAdminPage(w, r, status, adminPage{Admin: admin, Error: msg})
		return
	}
	writeError(w, status, code, msg)
}
