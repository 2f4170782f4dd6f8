package sso

import "time"

// SetClock makes p read the time from now, for the state cookie's and the ID token's expiry.
func SetClock(p *Provider, now func() time.Time) { p.now = now }

// ResealWithVerifier returns cookie with its PKCE verifier replaced, validly signed by p.
func ResealWithVerifier(p *Provider, cookie, verifier string) (string, error) {
	st, err := p.openState(cookie)
	if err != nil {
		return "", err
	}
	st.Verifier = verifier
	return p.sealState(st)
}
