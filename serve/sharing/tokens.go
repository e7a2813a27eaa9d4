package sharing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// tokenCodec seals the page and refresh tokens handed to clients: a JSON
// payload and its HMAC-SHA256, both base64url. A token that was altered,
// made with another key or has expired does not open.
type tokenCodec struct {
	key []byte
	now func() time.Time
}

// token is the payload of every token. Kind tells the token's use, and the
// binding fields tie it to the recipient and object it was issued for, so
// a token can be replayed only for the request it came from.
type token struct {
	Kind      string `json:"k"`
	Recipient string `json:"r"`
	Scope     string `json:"s"`           // share id, or share id/table id
	Params    string `json:"p,omitempty"` // hash of the request parameters
	Expires   int64  `json:"e,omitempty"` // unix ms; 0: never
	After     string `json:"a,omitempty"` // lists: the last name returned
	Version   int64  `json:"v,omitempty"` // table version served
	Start     int64  `json:"sv,omitempty"`
	End       int64  `json:"ev,omitempty"`
	Offset    int    `json:"o,omitempty"` // files already returned
}

func (c tokenCodec) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(payload)
	return m.Sum(nil)
}

func (c tokenCodec) seal(t token) string {
	b, _ := json.Marshal(t) // cannot fail for token
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b) + "." + enc.EncodeToString(c.mac(b))
}

// open verifies s and checks it is a token of kind for recipient and scope;
// any mismatch is one error, which says nothing about which check failed.
func (c tokenCodec) open(s, kind, recipient, scope string) (token, *apiError) {
	bad := badParam("invalid %s: it was not issued for this request, was altered or has expired; start again without it", kindLabel(kind))
	p, m, ok := strings.Cut(s, ".")
	if !ok || len(s) > 4096 {
		return token{}, bad
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sum, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, c.mac(payload)) {
		return token{}, bad
	}
	var t token
	if err := json.Unmarshal(payload, &t); err != nil {
		return token{}, bad
	}
	if t.Kind != kind || t.Recipient != recipient || t.Scope != scope {
		return token{}, bad
	}
	if t.Expires != 0 && c.now().UnixMilli() >= t.Expires {
		return token{}, bad
	}
	return t, nil
}

func kindLabel(kind string) string {
	if kind == kindRefresh || kind == kindRefreshChanges {
		return "refreshToken"
	}
	return "pageToken"
}

// Token kinds.
const (
	kindList    = "list"
	kindFiles   = "files"
	kindChanges = "changes"
	kindRefresh = "refresh"
	// kindRefreshChanges pins the window of a changes request.
	kindRefreshChanges = "refresh-changes"
)

// paramsHash is a short hash of a request's parameters, which a page token
// carries so that the next page is asked with the same ones.
func paramsHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}
