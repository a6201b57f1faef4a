package main

// Passkeys (WebAuthn Level 2) for accounts by invitation: an invitee may
// register a passkey on the invitation page instead of choosing a
// password, a signed-in account may add one, and /login/ offers "Sign in
// with a passkey" (a discoverable credential: no email is typed, so there
// is nothing to enumerate). A passkey sign-in ends in finishSignIn, like a
// password's, so everything after it is the same. Details:
// docs/accounts.md.
//
// The relying party is PUBLIC_URL: its host is the RP ID and its origin
// the only origin accepted. Dropp asks for attestation "none" and trusts
// no attestation, so an attestation statement, whatever its format, is
// decoded and ignored. User verification is preferred, not required; the
// user-present flag is required. Every challenge is a one-time record
// (an AuthState with a Purpose), taken before anything else is checked, so
// a response is never accepted twice.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Ceremony figures.
const (
	passkeyChallengeTTL = 5 * time.Minute // how long a ceremony may take, the browser's timeout included
	passkeyTimeoutMS    = 4 * 60 * 1000   // the browser's timeout, within passkeyChallengeTTL
	maxPasskeyForm      = 32 << 10        // a credential's JSON, base64url: an RSA key and an RSA signature fit many times
	maxPasskeyName      = 64
)

// Challenge purposes (AuthState.Purpose): what a challenge may complete.
const (
	purposePasskeySignIn = "passkey sign-in"
	purposePasskeyUser   = "passkey for user "       // + the user's ID, " as ", the same ID (the user handle)
	purposePasskeyInvite = "passkey for invitation " // + the invitation's hash, " as ", the user handle
)

// relyingParty is this server as WebAuthn sees it.
type relyingParty struct {
	id     string // the RP ID: PUBLIC_URL's host name
	origin string // PUBLIC_URL's origin
	// requireUV refuses a response without user verification; Dropp
	// prefers it but does not require it (a security key without a PIN
	// is still a second possession factor).
	requireUV bool
}

// relyingParty is the server's relying party, from PUBLIC_URL.
func (s *server) relyingParty() relyingParty { return newRelyingParty(s.cfg.PublicURL) }

// newRelyingParty takes the RP ID and origin from PUBLIC_URL.
func newRelyingParty(public *url.URL) relyingParty {
	if public == nil {
		return relyingParty{}
	}
	return relyingParty{id: public.Hostname(), origin: public.Scheme + "://" + public.Host}
}

// errPasskey is every refusal of a ceremony's response; its text says
// which check failed, for the log and the tests, never for the client.
var errPasskey = errors.New("passkey refused")

func passkeyRefusal(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errPasskey}, args...)...)
}

// ---- What the browser sends ----

// credentialJSON is a PublicKeyCredential as the page sends it (the shape
// of its toJSON()), binary fields in base64url.
type credentialJSON struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AttestationObject string `json:"attestationObject"` // registration
		AuthenticatorData string `json:"authenticatorData"` // sign-in
		Signature         string `json:"signature"`         // sign-in
		UserHandle        string `json:"userHandle"`        // sign-in, discoverable credentials
	} `json:"response"`
}

// clientData is the part of clientDataJSON that is checked.
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
	raw         []byte
}

// parseCredential reads the form's credential field and its client data.
func parseCredential(field string) (credentialJSON, clientData, error) {
	var c credentialJSON
	if err := json.Unmarshal([]byte(field), &c); err != nil {
		return c, clientData{}, passkeyRefusal("credential is not JSON: %v", err)
	}
	if c.Type != "public-key" || c.ID == "" || c.RawID != c.ID || len(c.ID) > 2*maxCredentialIDLen {
		return c, clientData{}, passkeyRefusal("credential type %q or id is not valid", c.Type)
	}
	if _, err := decodeB64URL(c.ID); err != nil {
		return c, clientData{}, passkeyRefusal("credential id: %v", err)
	}
	raw, err := decodeB64URL(c.Response.ClientDataJSON)
	if err != nil {
		return c, clientData{}, passkeyRefusal("clientDataJSON: %v", err)
	}
	cd := clientData{raw: raw}
	if err := json.Unmarshal(raw, &cd); err != nil {
		return c, clientData{}, passkeyRefusal("clientDataJSON is not JSON: %v", err)
	}
	return c, cd, nil
}

// decodeB64URL decodes base64url, with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// check verifies the client data of a ceremony of type typ (webauthn.create
// or webauthn.get) against the challenge that was issued and our origin.
func (rp relyingParty) checkClientData(cd clientData, typ, challenge string) error {
	switch {
	case cd.Type != typ:
		return passkeyRefusal("client data type %q, want %q", cd.Type, typ)
	case !equalHashes(cd.Challenge, challenge):
		return passkeyRefusal("client data challenge does not match")
	case cd.Origin != rp.origin:
		return passkeyRefusal("origin %q, want %q", cd.Origin, rp.origin)
	case cd.CrossOrigin:
		return passkeyRefusal("a cross-origin frame made the credential")
	}
	return nil
}

// checkAuthData verifies what both ceremonies check of authenticator data:
// it is for our RP ID, the user was present, and verified if required.
func (rp relyingParty) checkAuthData(ad authenticatorData) error {
	want := sha256.Sum256([]byte(rp.id))
	switch {
	case !bytes.Equal(ad.RPIDHash, want[:]):
		return passkeyRefusal("rpIdHash is not the hash of %q", rp.id)
	case ad.Flags&flagUserPresent == 0:
		return passkeyRefusal("user present flag not set")
	case rp.requireUV && ad.Flags&flagUserVerified == 0:
		return passkeyRefusal("user verified flag not set")
	}
	return nil
}

// ---- The ceremonies ----

// verifyRegistration checks a registration response whose challenge was
// taken, and returns the new passkey (ID, key, algorithm, counter).
func (rp relyingParty) verifyRegistration(c credentialJSON, cd clientData, challenge string) (Passkey, error) {
	if err := rp.checkClientData(cd, "webauthn.create", challenge); err != nil {
		return Passkey{}, err
	}
	raw, err := decodeB64URL(c.Response.AttestationObject)
	if err != nil {
		return Passkey{}, passkeyRefusal("attestationObject: %v", err)
	}
	att, err := parseAttestationObject(raw)
	if err != nil {
		return Passkey{}, passkeyRefusal("%v", err)
	}
	ad, err := parseAuthenticatorData(att.AuthData)
	if err != nil {
		return Passkey{}, passkeyRefusal("%v", err)
	}
	if err := rp.checkAuthData(ad); err != nil {
		return Passkey{}, err
	}
	if ad.Flags&flagAttested == 0 {
		return Passkey{}, passkeyRefusal("no attested credential data")
	}
	id := base64.RawURLEncoding.EncodeToString(ad.CredentialID)
	if id != strings.TrimRight(c.ID, "=") {
		return Passkey{}, passkeyRefusal("credential id differs from the attested one")
	}
	key, err := parseCOSEKey(ad.PublicKey)
	if err != nil {
		return Passkey{}, passkeyRefusal("%v", err)
	}
	return Passkey{ID: id, PublicKey: ad.PublicKey, Alg: key.Alg, SignCount: int64(ad.SignCount)}, nil
}

// verifyAssertion checks a sign-in response, whose challenge was taken,
// against the stored passkey, and returns the authenticator's new
// signature counter. A counter that does not grow, when either it or the
// stored one is not zero, means two authenticators hold the key: a clone.
func (rp relyingParty) verifyAssertion(c credentialJSON, cd clientData, challenge string, pk Passkey) (int64, error) {
	if err := rp.checkClientData(cd, "webauthn.get", challenge); err != nil {
		return 0, err
	}
	authData, err1 := decodeB64URL(c.Response.AuthenticatorData)
	sig, err2 := decodeB64URL(c.Response.Signature)
	if err := errors.Join(err1, err2); err != nil {
		return 0, passkeyRefusal("authenticatorData or signature: %v", err)
	}
	ad, err := parseAuthenticatorData(authData)
	if err != nil {
		return 0, passkeyRefusal("%v", err)
	}
	if err := rp.checkAuthData(ad); err != nil {
		return 0, err
	}
	if c.Response.UserHandle != "" && strings.TrimRight(c.Response.UserHandle, "=") != pk.UserHandle {
		return 0, passkeyRefusal("user handle is not the passkey's")
	}
	key, err := parseCOSEKey(pk.PublicKey)
	if err != nil || key.Alg != pk.Alg {
		return 0, fmt.Errorf("stored passkey %s is unreadable: %v", pk.ID, err)
	}
	clientHash := sha256.Sum256(cd.raw)
	if !key.verify(append(authData[:len(authData):len(authData)], clientHash[:]...), sig) {
		return 0, passkeyRefusal("signature does not verify")
	}
	count := int64(ad.SignCount)
	if (count != 0 || pk.SignCount != 0) && count <= pk.SignCount {
		return 0, passkeyRefusal("signature counter %d after %d: a cloned authenticator", count, pk.SignCount)
	}
	return count, nil
}

// ---- Options the page passes to navigator.credentials ----

// passkeyCredParams are the algorithms offered, in order of preference.
var passkeyCredParams = []map[string]any{
	{"type": "public-key", "alg": coseEdDSA},
	{"type": "public-key", "alg": coseES256},
	{"type": "public-key", "alg": coseRS256},
}

// creationOptions are PublicKeyCredentialCreationOptions in JSON form
// (binary fields base64url, which the page decodes): a discoverable
// credential, user verification preferred, no attestation.
func (rp relyingParty) creationOptions(challenge, handle, email string, exclude []Passkey) map[string]any {
	excluded := []map[string]any{}
	for _, p := range exclude {
		excluded = append(excluded, map[string]any{"type": "public-key", "id": p.ID})
	}
	return map[string]any{"publicKey": map[string]any{
		"rp":                 map[string]any{"id": rp.id, "name": "Dropp"},
		"user":               map[string]any{"id": handle, "name": email, "displayName": email},
		"challenge":          challenge,
		"pubKeyCredParams":   passkeyCredParams,
		"timeout":            passkeyTimeoutMS,
		"attestation":        "none",
		"excludeCredentials": excluded,
		"authenticatorSelection": map[string]any{
			"residentKey": "required", "requireResidentKey": true, "userVerification": "preferred",
		},
	}}
}

// requestOptions are PublicKeyCredentialRequestOptions in JSON form, with
// no allowCredentials: the authenticator offers the account's passkeys.
func (rp relyingParty) requestOptions(challenge string) map[string]any {
	return map[string]any{"publicKey": map[string]any{
		"rpId": rp.id, "challenge": challenge, "timeout": passkeyTimeoutMS,
		"userVerification": "preferred", "allowCredentials": []any{},
	}}
}

// ---- Challenges ----

// issueChallenge stores a new one-time challenge for purpose.
func (s *server) issueChallenge(ctx context.Context, purpose string) (string, error) {
	challenge := newSecret(32)
	err := s.store.InsertAuthState(ctx, AuthState{Hash: hashSecret(challenge), Purpose: purpose, ExpiresAt: s.now().Add(passkeyChallengeTTL)})
	return challenge, err
}

// takeChallenge consumes the challenge the client data names and returns
// its purpose; errPasskey if there is none (unknown, used or expired).
func (s *server) takeChallenge(ctx context.Context, cd clientData) (string, error) {
	if !validSecret(cd.Challenge) {
		return "", passkeyRefusal("challenge is not one of ours")
	}
	st, err := s.store.TakeAuthState(ctx, hashSecret(cd.Challenge), s.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return "", passkeyRefusal("challenge unknown, used or expired")
	case err != nil:
		return "", err
	case st.Purpose == "":
		return "", passkeyRefusal("challenge is a provider sign-in's state")
	}
	return st.Purpose, nil
}

// ---- Sign-in ----

// msgPasskeyRefused is the one answer to every refused passkey sign-in:
// unknown passkey, bad signature, cloned authenticator, disabled account.
const msgPasskeyRefused = "This passkey was not accepted. Try again, or sign in another way."

// handlePasskeySignInOptions handles "POST /auth/passkey/options": a
// challenge and the options for navigator.credentials.get.
func (s *server) handlePasskeySignInOptions(w http.ResponseWriter, r *http.Request) {
	challenge, err := s.issueChallenge(r.Context(), purposePasskeySignIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.relyingParty().requestOptions(challenge))
}

// handlePasskeySignIn handles "POST /auth/passkey": the form the page
// posts with the authenticator's response and the desktop app's
// parameters. A passkey that passes every check signs in its account as a
// password does (finishSignIn).
func (s *server) handlePasskeySignIn(w http.ResponseWriter, r *http.Request) {
	v, ok := s.passkeyForm(w, r)
	if !ok {
		return
	}
	app, problem := s.parseAppRequest(appValues(v))
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, problem)
		return
	}
	checkedAt := s.now() // before the passkey is read: a reset from then on voids this sign-in
	pk, err := s.checkPasskeySignIn(r.Context(), v.Get("credential"))
	if errors.Is(err, errPasskey) {
		s.log.Info("passkey sign-in refused", "reason", err.Error(), "request_id", requestInfoFrom(r.Context()).id)
		s.renderPage(w, http.StatusUnauthorized, loginPage{Title: "Sign in", Error: msgPasskeyRefused,
			Password: &passwordForm{App: app}, SignInURL: s.oidcButton(app), SignInLabel: s.signInLabel(app)})
		return
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	if err := s.passkeyStillProven(r.Context(), pk); err != nil {
		if errors.Is(err, errResetMeanwhile) {
			s.renderError(w, http.StatusUnauthorized, msgResetMeanwhile)
		} else {
			s.failPage(w, r, err)
		}
		return
	}
	s.finishSignIn(w, r, pk.UserID, app, checkedAt)
}

// passkeyStillProven refuses (errResetMeanwhile) a passkey added by a
// session that a reset has since ended: such a passkey is stored after the
// reset's mark and taken back once its request reads the mark
// (keepAddedPasskey), and a sign-in with it meanwhile must not outlive the
// reset (review 17). The passkey is as good as the session that added it.
// A disabled user is refused further on (finishSignIn).
func (s *server) passkeyStillProven(ctx context.Context, pk Passkey) error {
	if pk.ProvenAt.IsZero() {
		return nil
	}
	err := s.voidedMeanwhile(ctx, pk.UserID, pk.ProvenAt)
	if errors.Is(err, errDisabled) {
		return nil // refused as every disabled user's sign-in is (finishSignIn)
	}
	return err
}

// checkPasskeySignIn runs the sign-in ceremony's checks and records the
// use; errPasskey for every refusal.
func (s *server) checkPasskeySignIn(ctx context.Context, field string) (Passkey, error) {
	c, cd, err := parseCredential(field)
	if err != nil {
		return Passkey{}, err
	}
	purpose, err := s.takeChallenge(ctx, cd)
	if err != nil {
		return Passkey{}, err
	}
	if purpose != purposePasskeySignIn {
		return Passkey{}, passkeyRefusal("challenge was issued for %q", purpose)
	}
	pk, err := s.store.GetPasskey(ctx, strings.TrimRight(c.ID, "="))
	if errors.Is(err, ErrNotFound) {
		return Passkey{}, passkeyRefusal("unknown credential")
	}
	if err != nil {
		return Passkey{}, err
	}
	count, err := s.relyingParty().verifyAssertion(c, cd, cd.Challenge, pk)
	if err != nil {
		return Passkey{}, err
	}
	u, err := s.store.GetUser(ctx, pk.UserID)
	switch {
	case errors.Is(err, ErrNotFound), err == nil && (u.Disabled || u.Issuer != accountsIssuer):
		return Passkey{}, passkeyRefusal("account missing or disabled")
	case err != nil:
		return Passkey{}, err
	}
	// The counter moves only if it is still what was checked: of two
	// sign-ins with one response's counter, one passes.
	if err := s.store.UsePasskey(ctx, pk.ID, pk.SignCount, count, s.now()); errors.Is(err, ErrNotFound) {
		return Passkey{}, passkeyRefusal("signature counter moved meanwhile")
	} else if err != nil {
		return Passkey{}, err
	}
	return pk, nil
}

// appValues picks the desktop app's parameters out of a form.
func appValues(v url.Values) url.Values {
	app := url.Values{}
	for _, k := range appParams {
		if vs, ok := v[k]; ok {
			app[k] = vs
		}
	}
	return app
}

// passkeyForm checks and reads a passkey form post (formPost's checks):
// a credential field once, a name at most once. On false the error page
// has been written.
func (s *server) passkeyForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if !s.formPost(w, r) {
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPasskeyForm)
	if err := r.ParseForm(); err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			s.renderError(w, http.StatusRequestEntityTooLarge, "The form is too large.")
			return nil, false
		}
		s.renderError(w, http.StatusBadRequest, "The form could not be read.")
		return nil, false
	}
	v := r.PostForm
	if len(v["credential"]) != 1 || len(v["name"]) > 1 {
		s.renderError(w, http.StatusBadRequest, "The form must carry one credential.")
		return nil, false
	}
	return v, true
}

// ---- Registration ----

// handleInvitePasskeyOptions handles "POST /invite/{token}/passkey/options":
// the options to create a passkey for the invitation's account. The user
// handle is the account's ID if it exists (a reset), else a new one.
func (s *server) handleInvitePasskeyOptions(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	err := ErrNotFound
	var inv Invitation
	if validSecret(token) {
		inv, err = s.store.GetInvitation(r.Context(), hashSecret(token), s.now())
	}
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "this invitation link is not valid: it may have been used already or have expired")
		return
	}
	handle := newUserHandle()
	if err == nil {
		var acct User
		acct, err = s.store.FindAccount(r.Context(), inv.Email)
		if err == nil {
			handle = acct.ID
		} else if errors.Is(err, ErrNotFound) {
			err = nil
		}
	}
	var challenge string
	if err == nil {
		challenge, err = s.issueChallenge(r.Context(), purposePasskeyInvite+inv.Hash+" as "+handle)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.relyingParty().creationOptions(challenge, userHandle(handle), inv.Email, nil))
}

// newUserHandle is the user handle of an account not created yet.
func newUserHandle() string { return newID() }

// userHandle is the WebAuthn user handle of a user ID (base64url of its
// bytes): opaque, no personal information.
func userHandle(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// handleInvitePasskey handles "POST /invite/{token}/passkey": it checks
// the new passkey, then takes the invitation (once) and makes the passkey
// the account's only credential, as choosing a password does.
func (s *server) handleInvitePasskey(w http.ResponseWriter, r *http.Request) {
	v, ok := s.passkeyForm(w, r)
	if !ok {
		return
	}
	inv, ok := s.openInvitation(w, r)
	if !ok {
		return
	}
	pk, err := s.checkRegistration(r.Context(), v, purposePasskeyInvite+inv.Hash+" as ")
	if err == nil {
		err = s.passkeyFree(r.Context(), pk.ID)
	}
	if err == nil {
		err = s.useInvitation(r.Context(), inv.Hash, "", &pk)
	}
	switch {
	case errors.Is(err, errPasskey):
		s.log.Info("passkey registration refused", "reason", err.Error(), "request_id", requestInfoFrom(r.Context()).id)
		s.renderInvite(w, http.StatusBadRequest, inv, r.PathValue("token"), "The passkey could not be registered. Try again.")
	case errors.Is(err, ErrConflict):
		s.renderInvite(w, http.StatusConflict, inv, r.PathValue("token"), "This passkey is registered already.")
	case errors.Is(err, ErrNotFound):
		s.renderError(w, http.StatusNotFound, msgInvitationInvalid)
	case err != nil:
		s.failPage(w, r, err)
	default:
		http.Redirect(w, r, "/login/?notice=passkey_set", http.StatusSeeOther)
	}
}

// keepAddedPasskey checks, once pk is stored, that the session that added
// it (issued at pk.ProvenAt) still speaks for its account
// (voidedMeanwhile), and else deletes it: a reset that deleted the
// account's passkeys before this one was stored must not leave it.
func (s *server) keepAddedPasskey(ctx context.Context, pk Passkey) error {
	err := s.voidedMeanwhile(ctx, pk.UserID, pk.ProvenAt)
	if errors.Is(err, errUnauthenticated) {
		if derr := s.store.DeletePasskey(ctx, pk.ID); derr != nil {
			return derr
		}
	}
	return err
}

// passkeyFree answers ErrConflict if the credential ID is registered
// already, checked before the invitation is taken: a conflict found by
// the insert, after the reset began, would leave the account with no way
// in and its invitation used up.
func (s *server) passkeyFree(ctx context.Context, id string) error {
	_, err := s.store.GetPasskey(ctx, id)
	switch {
	case err == nil:
		return ErrConflict
	case errors.Is(err, ErrNotFound):
		return nil
	}
	return err
}

// checkRegistration takes the form's challenge, which must have been
// issued for a purpose starting with purpose, and verifies the response.
// The passkey comes back with the user handle the challenge recorded
// (after " as ", for an invitation) and the form's name.
func (s *server) checkRegistration(ctx context.Context, v url.Values, purpose string) (Passkey, error) {
	name, ok := passkeyName(v.Get("name"))
	if !ok {
		return Passkey{}, passkeyRefusal("name is not printable or too long")
	}
	c, cd, err := parseCredential(v.Get("credential"))
	if err != nil {
		return Passkey{}, err
	}
	got, err := s.takeChallenge(ctx, cd)
	if err != nil {
		return Passkey{}, err
	}
	handle, ok := strings.CutPrefix(got, purpose)
	if !ok {
		return Passkey{}, passkeyRefusal("challenge was issued for %q", got)
	}
	pk, err := s.relyingParty().verifyRegistration(c, cd, cd.Challenge)
	if err != nil {
		return Passkey{}, err
	}
	pk.UserHandle, pk.Name, pk.CreatedAt = userHandle(handle), name, s.now()
	return pk, nil
}

// passkeyName is the name a user gave a passkey, "Passkey" if none.
func passkeyName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	ok := utf8.ValidString(name) && utf8.RuneCountInString(name) <= maxPasskeyName &&
		!strings.ContainsFunc(name, unicode.IsControl)
	if name == "" {
		name = "Passkey"
	}
	return name, ok
}

// handleAddPasskeyOptions handles "POST /auth/passkey/register/options":
// the options for a signed-in account to add a passkey.
func (s *server) handleAddPasskeyOptions(w http.ResponseWriter, r *http.Request, userID string) {
	u, ok := s.passkeyAccount(w, r, userID)
	if !ok {
		return
	}
	existing, err := s.store.UserPasskeys(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	challenge, err := s.issueChallenge(r.Context(), purposePasskeyUser+userID+" as "+userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.relyingParty().creationOptions(challenge, userHandle(userID), u.Email, existing))
}

// passkeyAccount refuses users who are not accounts, and every user when
// accounts are off: an OpenID user signs in at the provider, which must
// keep deciding who may. On false the error has been answered.
func (s *server) passkeyAccount(w http.ResponseWriter, r *http.Request, userID string) (User, bool) {
	u, err := s.store.GetUser(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return User{}, false
	}
	if u.Issuer != accountsIssuer || !s.cfg.accountsSignIn() {
		writeError(w, http.StatusConflict, codeConflict, "only accounts by invitation (SIGNIN=accounts) can have passkeys")
		return User{}, false
	}
	return u, true
}

// handleAddPasskey handles "POST /auth/passkey/register": the signed-in
// account's new passkey, from the page's form.
func (s *server) handleAddPasskey(w http.ResponseWriter, r *http.Request, userID string) {
	v, ok := s.passkeyForm(w, r)
	if !ok {
		return
	}
	if _, ok := s.passkeyAccount(w, r, userID); !ok {
		return
	}
	pk, err := s.checkRegistration(r.Context(), v, purposePasskeyUser+userID+" as ")
	if err == nil {
		pk.UserID, pk.ProvenAt = userID, requestInfoFrom(r.Context()).who.issued
		err = s.store.InsertPasskey(r.Context(), pk)
	}
	if err == nil {
		err = s.keepAddedPasskey(r.Context(), pk)
	}
	switch {
	case errors.Is(err, errDisabled):
		s.renderError(w, http.StatusUnauthorized, msgDisabled)
	case errors.Is(err, errResetMeanwhile):
		s.renderError(w, http.StatusUnauthorized, msgResetMeanwhile)
	case errors.Is(err, errPasskey):
		s.log.Info("passkey registration refused", "user", userID, "reason", err.Error())
		s.renderError(w, http.StatusBadRequest, "The passkey could not be registered. Try again.")
	case errors.Is(err, ErrConflict):
		s.renderError(w, http.StatusConflict, "This passkey is registered already.")
	case err != nil:
		s.failPage(w, r, err)
	default:
		s.log.Info("passkey added", "user", userID, "passkey", pk.ID, "alg", pk.Alg)
		http.Redirect(w, r, "/login/?notice=passkey_added", http.StatusSeeOther)
	}
}
