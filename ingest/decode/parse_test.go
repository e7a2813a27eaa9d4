package decode

import (
	"math/rand"
	"testing"
)

// clockByDigits is clockAt as parseClock did it before, one digit at a
// time: the reference for TestClockAt.
func clockByDigits(b []byte) (hh, mm, ss int64, ok bool) {
	hh, ok1 := digitsAt(b, 11, 2)
	mm, ok2 := digitsAt(b, 14, 2)
	ss, ok3 := digitsAt(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || b[13] != ':' || b[16] != ':' {
		return 0, 0, 0, false
	}
	return hh, mm, ss, true
}

// TestClockAt checks the word-at-a-time clock against the digit-at-a-time
// one: on every byte value at every position of the clock, on random
// clocks, and on short inputs.
func TestClockAt(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		h, m, s, ok := clockAt(b)
		var rh, rm, rs int64
		rok := len(b) >= 19
		if rok {
			rh, rm, rs, rok = clockByDigits(b)
		}
		if ok != rok || ok && (h != rh || m != rm || s != rs) {
			t.Fatalf("%q: %d:%d:%d %v, want %d:%d:%d %v", b, h, m, s, ok, rh, rm, rs, rok)
		}
	}
	base := []byte("2024-01-31T19:59:60.5Z")
	for pos := 11; pos < 19; pos++ {
		for c := 0; c < 256; c++ {
			b := append([]byte(nil), base...)
			b[pos] = byte(c)
			check(b)
		}
	}
	r := rand.New(rand.NewSource(4))
	const alphabet = "0123456789:/;\x00\x7f\x80\xff 9"
	for k := 0; k < 100000; k++ {
		b := append([]byte(nil), base...)
		for pos := 11; pos < 19; pos++ {
			if r.Intn(4) > 0 {
				b[pos] = byte('0' + r.Intn(10))
			} else {
				b[pos] = alphabet[r.Intn(len(alphabet))]
			}
		}
		if r.Intn(3) > 0 {
			b[13], b[16] = ':', ':'
		}
		check(b)
	}
	for n := 0; n < 19; n++ {
		check(base[:n])
	}
}
