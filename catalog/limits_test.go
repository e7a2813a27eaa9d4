package catalog

import (
	"net/netip"
	"testing"
	"time"
)

// TestMaxTokenLifetime: with a maximum set, a recipient token created or
// rotated lives at most that long, whatever token.ttl asks (or without
// one), and is refused once expired.
func TestMaxTokenLifetime(t *testing.T) {
	c, _ := openTest(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c.SetClock(func() time.Time { return now })
	c.SetMaxTokenLifetime(365 * 24 * time.Hour)
	year := now.Add(365 * 24 * time.Hour)
	for _, tc := range []struct {
		name, ttl string
		want      time.Time
	}{
		{"none", "", year},
		{"longer", "800d", year},
		{"shorter", "30d", now.Add(30 * 24 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]string{}
			if tc.ttl != "" {
				props[TokenTTLProperty] = tc.ttl
			}
			must(t, c, func(tx *Tx) error {
				rc, _, err := tx.CreateRecipient(Recipient{Name: "r_" + tc.name, Properties: props})
				if err == nil && (len(rc.Tokens) != 1 || !rc.Tokens[0].Expires.Equal(tc.want)) {
					t.Errorf("created token expires %v, want %v", rc.Tokens, tc.want)
				}
				if err != nil {
					return err
				}
				_, err = tx.RotateRecipientToken(rc.Name, 0)
				if err != nil {
					return err
				}
				rc, err = tx.GetRecipient(rc.Name)
				if err == nil && (len(rc.Tokens) != 1 || !rc.Tokens[0].Expires.Equal(tc.want)) {
					t.Errorf("rotated token expires %v, want %v", rc.Tokens, tc.want)
				}
				return err
			})
		})
	}
	var tok string
	must(t, c, func(tx *Tx) (err error) {
		_, tok, err = tx.CreateRecipient(Recipient{Name: "late"})
		return err
	})
	now = year // expired at its last instant
	c.SetClock(func() time.Time { return now })
	_, err := c.AuthenticateRecipient(t.Context(), tok)
	wantErr(t, err, ErrUnauthenticated, "recipient token has expired: ask for a new one")
}

// TestIPAllow: the ip_allow property, validated when set (at creation and
// by SetRecipientProperties) and matched against a client's address.
func TestIPAllow(t *testing.T) {
	c, _ := openTest(t)
	must(t, c, func(tx *Tx) error {
		_, _, err := tx.CreateRecipient(Recipient{Name: "acme", Properties: map[string]string{IPAllowProperty: "10.0.0.0/8, 192.0.2.1"}})
		return err
	})
	for _, tc := range []struct {
		value, want string
	}{
		{"10.0.0.0/33", `recipient acme: property ip_allow: "10.0.0.0/33" is not a CIDR (10.0.0.0/8) or an IP address (192.0.2.1)`},
		{"10.0.0.0/8,,", `recipient acme: property ip_allow: "" is not a CIDR (10.0.0.0/8) or an IP address (192.0.2.1)`},
		{"example.com", `recipient acme: property ip_allow: "example.com" is not a CIDR (10.0.0.0/8) or an IP address (192.0.2.1)`},
	} {
		err := c.Update(t.Context(), func(tx *Tx) error {
			_, err := tx.SetRecipientProperties("acme", map[string]string{IPAllowProperty: tc.value})
			return err
		})
		wantErr(t, err, ErrInvalid, tc.want)
		err = c.Update(t.Context(), func(tx *Tx) error {
			_, _, err := tx.CreateRecipient(Recipient{Name: "other", Properties: map[string]string{IPAllowProperty: tc.value}})
			return err
		})
		if err == nil {
			t.Errorf("CreateRecipient with ip_allow %q: no error", tc.value)
		}
	}
	var rc Recipient
	must(t, c, func(tx *Tx) (err error) { rc, err = tx.GetRecipient("acme"); return err })
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "192.0.2.1": true, "192.0.2.2": false, "11.0.0.1": false,
		"::ffff:10.0.0.1": true, "2001:db8::1": false,
	} {
		if got := rc.AllowsIP(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsIP(%s) = %v, want %v", addr, got, want)
		}
	}
	// Changed at once; an empty value removes it.
	must(t, c, func(tx *Tx) (err error) {
		rc, err = tx.SetRecipientProperties("acme", map[string]string{IPAllowProperty: "2001:db8::/32"})
		return err
	})
	if rc.AllowsIP(netip.MustParseAddr("10.1.2.3")) || !rc.AllowsIP(netip.MustParseAddr("2001:db8::1")) {
		t.Errorf("after ALTER, ip_allow = %q", rc.Properties[IPAllowProperty])
	}
	must(t, c, func(tx *Tx) (err error) {
		rc, err = tx.SetRecipientProperties("acme", map[string]string{IPAllowProperty: ""})
		return err
	})
	if !rc.AllowsIP(netip.MustParseAddr("11.0.0.1")) {
		t.Errorf("without ip_allow, an address is refused")
	}
}
