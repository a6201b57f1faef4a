package main

// Who may sign in and stay signed in: the allow-lists (ALLOWED_EMAILS,
// ALLOWED_EMAIL_DOMAINS, ALLOWED_GROUPS) applied to a stored user at every
// request, and the cache of what they read of each user.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// allowListSet tells whether ALLOWED_EMAILS or ALLOWED_EMAIL_DOMAINS is
// set; with neither, any email is allowed.
func allowListSet(cfg *config) bool { return len(cfg.AllowedDomains) > 0 || len(cfg.AllowedEmails) > 0 }

// membershipLimited tells whether any allow-list is set (emails, domains
// or groups); with none, anyone with an account at the provider may sign in.
func membershipLimited(cfg *config) bool { return allowListSet(cfg) || len(cfg.AllowedGroups) > 0 }

// groupsAllowed applies ALLOWED_GROUPS, when set, to a user's groups: one
// of them must be listed. It is a further limit on top of the email
// allow-lists, not an alternative to them: with both set, an account must
// pass both. Names compare exactly, case included.
func groupsAllowed(cfg *config, groups []string) bool {
	return len(cfg.AllowedGroups) == 0 || inAnyGroup(groups, cfg.AllowedGroups)
}

// inAnyGroup tells whether one of groups is on listed.
func inAnyGroup(groups, listed []string) bool {
	return slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(listed, g) })
}

// memberAllowed is the allow-lists' verdict on a stored user's email and
// groups, at every request: whoever is taken off the lists (or out of the
// groups, as of their last sign-in) loses their tokens and sessions with
// the restart that applies the new lists. (Verification and hd were
// checked when the email was stored, at sign-in.)
func memberAllowed(cfg *config, m member) bool {
	emailOK := !allowListSet(cfg) || slices.Contains(cfg.AllowedEmails, strings.ToLower(m.email)) || domainAllowed(cfg, m.email)
	return emailOK && groupsAllowed(cfg, m.groups)
}

// domainAllowed tells whether the email's domain is on ALLOWED_EMAIL_DOMAINS.
func domainAllowed(cfg *config, email string) bool {
	email = strings.ToLower(email)
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(cfg.AllowedDomains, email[at+1:])
}

// memberCacheTTL bounds how long a user's email and groups are trusted
// from memory by the check at use. Only a sign-in changes them, and a
// sign-in passed the allow-lists, so this only bounds how long another
// instance's change goes unseen.
const (
	memberCacheTTL = time.Minute
	memberCacheMax = 10000 // entries; the cache starts over beyond
)

// memberCache caches what the allow-lists read of each user (email and
// groups), so that checking membership at every request costs no
// database round trip.
type memberCache struct {
	mu sync.Mutex
	m  map[string]member // by user id
}

// member is what the allow-lists read of a stored user, and when it was read.
type member struct {
	email  string
	groups []string
	at     time.Time
}

// get returns the user's email and groups, from memory if read less than
// memberCacheTTL ago. A missing user is ErrNotFound.
func (c *memberCache) get(ctx context.Context, store Store, userID string, now time.Time) (member, error) {
	c.mu.Lock()
	m, ok := c.m[userID]
	c.mu.Unlock()
	if ok && now.Sub(m.at) < memberCacheTTL {
		return m, nil
	}
	u, err := store.GetUser(ctx, userID)
	if err != nil {
		return member{}, err
	}
	return c.put(u, now), nil
}

// put records a user as read (or just stored) at now.
func (c *memberCache) put(u User, now time.Time) member {
	m := member{email: u.Email, groups: u.Groups, at: now}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= memberCacheMax {
		c.m = map[string]member{}
	}
	c.m[u.ID] = m
	return m
}
