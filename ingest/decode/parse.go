package decode

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// Text parsers shared by every format. They work on []byte without
// allocating and report problems as short phrases that the coercions wrap.

// bstr views b as a string without copying; the result must not outlive b
// and is only passed to functions that do not retain it.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

var (
	errSyntax   = errors.New("syntax")
	errOverflow = errors.New("overflow")
)

// parseInt parses an optionally signed run of decimal digits. It returns
// errSyntax if b is not an integer (including "1.0" and "1e3") and
// errOverflow if it does not fit in an int64.
func parseInt(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errSyntax
	}
	var u uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, errSyntax
		}
		if u > (1<<64-1)/10 {
			return 0, errOverflow
		}
		u = u*10 + uint64(d)
		if u < uint64(d) {
			return 0, errOverflow
		}
	}
	if neg {
		if u > 1<<63 {
			return 0, errOverflow
		}
		return -int64(u), nil
	}
	if u > 1<<63-1 {
		return 0, errOverflow
	}
	return int64(u), nil
}

// decimalText is a decimal number in text form split into its parts:
// value = (-1 if neg) × digits × 10^exp, digits without leading zeros.
// Parse it in place (var d decimalText; d.parse(b)) to keep it off the heap.
type decimalText struct {
	neg  bool
	exp  int
	n    int      // number of significant digits
	buf  [48]byte // the digits, when n <= len(buf)
	long []byte   // the digits, when there are more
}

// maxDecimalExp bounds exponents so that arithmetic on them cannot overflow.
const maxDecimalExp = 10000

func (d *decimalText) digits() []byte {
	if d.long != nil {
		return d.long
	}
	return d.buf[:d.n]
}

// parse reads a JSON-number-like text: [+-]digits[.digits][e[+-]digits]
// (a leading or trailing '.' is accepted, as in "5." and ".5").
func (d *decimalText) parse(b []byte) bool {
	*d = decimalText{}
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		d.neg = b[i] == '-'
		i++
	}
	sawDigit, frac := false, -1
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		sawDigit = true
		if frac >= 0 {
			frac++
		}
		if d.n == 0 && c == '0' {
			continue
		}
		if d.n < len(d.buf) {
			d.buf[d.n] = c
		} else {
			if d.long == nil {
				d.long = append([]byte(nil), d.buf[:]...)
			}
			d.long = append(d.long, c)
		}
		d.n++
	}
	if !sawDigit {
		return false
	}
	if frac > 0 {
		d.exp = -frac
	}
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return false
		}
		e, err := parseInt(b[i+1:])
		if err != nil || e > maxDecimalExp || e < -maxDecimalExp {
			return false
		}
		d.exp += int(e)
	}
	return true
}

// decimalIssue says why a decimal text does not fit a decimal(p,s).
type decimalIssue struct {
	fracDigits int // > 0: this many fractional digits, more than the scale
	intDigits  int // > 0: this many integer digits, more than p-s
}

// toDecimal converts d to an unscaled decimal128 of the given precision and
// scale. Digits beyond the scale must be zeros unless round is set, which
// rounds half away from zero.
func (d *decimalText) toDecimal(precision, scale int, round bool) (decimal128.Num, *decimalIssue) {
	digits := d.digits()
	shift := d.exp + scale // power of ten to multiply the digits by
	up := false
	if shift < 0 {
		keep := len(digits) + shift // digits left of the scale's last place
		tz := 0
		for tz < len(digits) && digits[len(digits)-1-tz] == '0' {
			tz++
		}
		if len(digits)-tz > keep && !round {
			return decimal128.Num{}, &decimalIssue{fracDigits: -(d.exp + tz)}
		}
		switch {
		case keep < 0:
			digits = nil
		default:
			up = round && keep < len(digits) && digits[keep] >= '5'
			digits = digits[:keep]
		}
		shift = 0
	}
	intDigits := len(digits) + shift - scale
	if len(digits) > 0 && len(digits)+shift > precision {
		return decimal128.Num{}, &decimalIssue{intDigits: intDigits}
	}
	n := digitsToNum(digits, shift)
	if up {
		n = n.Add(decimal128.FromU64(1))
		if !n.FitsInPrecision(int32(precision)) {
			return decimal128.Num{}, &decimalIssue{intDigits: intDigits + 1}
		}
	}
	if d.neg {
		n = n.Negate()
	}
	return n, nil
}

// digitsToNum computes digits × 10^shift, which must have at most 38 digits.
func digitsToNum(digits []byte, shift int) decimal128.Num {
	if len(digits) == 0 {
		return decimal128.Num{}
	}
	var hi, lo uint64
	mul10add := func(d uint64) {
		// (hi,lo) = (hi,lo)*10 + d; cannot overflow within 38 digits.
		h, l := bits.Mul64(lo, 10)
		hi = hi*10 + h
		var c uint64
		lo, c = bits.Add64(l, d, 0)
		hi += c
	}
	for _, c := range digits {
		mul10add(uint64(c - '0'))
	}
	for ; shift > 0; shift-- {
		mul10add(0)
	}
	return decimal128.New(int64(hi), lo)
}

// formatDecimal renders an unscaled decimal as text, e.g. 1234 scale 2 as "12.34".
func formatDecimal(n decimal128.Num, scale int) string {
	s := n.BigInt().String()
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	if scale > 0 {
		for len(s) <= scale {
			s = "0" + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// digitsAt parses n ASCII digits at b[i:]; ok is false if any is not a digit.
func digitsAt(b []byte, i, n int) (int64, bool) {
	if i+n > len(b) {
		return 0, false
	}
	var v int64
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// clockAt parses "HH:MM:SS" at b[11:19], six digits and two colons, in
// one 8-byte word (every timestamp of a stream pays for it).
func clockAt(b []byte) (hh, mm, ss int64, ok bool) {
	if len(b) < 19 {
		return 0, 0, 0, false
	}
	const (
		digits = 0xffff00ffff00ffff // bytes 0, 1, 3, 4, 6 and 7: HH MM SS
		colons = 0x00003a00003a0000 // ':' at bytes 2 and 5
		high   = 0xf0f000f0f000f0f0 // the high nibbles of the digit bytes
		low    = 0x0f0f000f0f000f0f // their low nibbles
	)
	w := binary.LittleEndian.Uint64(b[11:19])
	// Digits have the high nibble 3 and a low nibble that does not carry
	// into the high one when 6 is added (at most 9).
	if w&^digits != colons || w&high != 0x3030003030003030 || (w&low+0x0606000606000606)&high != 0 {
		return 0, 0, 0, false
	}
	d := w & low
	t := d*10 + d>>8 // bytes 0, 3 and 6 now hold HH, MM and SS
	return int64(t & 0xff), int64(t >> 24 & 0xff), int64(t >> 48 & 0xff), true
}

// parseDate parses "YYYY-MM-DD" at the start of b, returning days since the
// epoch and the number of bytes read.
func parseDate(b []byte) (int64, bool) {
	y, ok1 := digitsAt(b, 0, 4)
	m, ok2 := digitsAt(b, 5, 2)
	d, ok3 := digitsAt(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// dateTime is a parsed RFC 3339 date-time: microseconds since the epoch of
// its wall-clock reading, and its UTC offset in seconds if it has one.
type dateTime struct {
	micros    int64
	hasOffset bool
	offset    int64
}

// parseDateTime parses RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]",
// also with 't' or ' ' for 'T', 'z' for 'Z', or a date alone (midnight).
// Fraction digits past microseconds are truncated.
func parseDateTime(b []byte) (dateTime, bool) {
	if len(b) < 10 {
		return dateTime{}, false
	}
	days, ok := parseDate(b)
	if !ok {
		return dateTime{}, false
	}
	return parseClock(b, days)
}

// parseClock parses the rest of an RFC 3339 date-time after its date, b[:10],
// which is days since the epoch (see parseDateTime).
func parseClock(b []byte, days int64) (dateTime, bool) {
	var t dateTime
	t.micros = days * 86400e6
	if len(b) == 10 {
		return t, true
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return t, false
	}
	hh, mm, ss, ok := clockAt(b)
	if !ok || hh > 23 || mm > 59 || ss > 60 {
		return t, false
	}
	if ss == 60 { // leap second: Go and Spark both fold it into the next second
		ss = 59
		t.micros += 1e6
	}
	t.micros += (hh*3600 + mm*60 + ss) * 1e6
	i := 19
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		var frac int64
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if i-start < 6 {
				frac = frac*10 + int64(b[i]-'0')
			}
		}
		if i == start {
			return t, false
		}
		for n := i - start; n < 6; n++ {
			frac *= 10
		}
		t.micros += frac
	}
	switch {
	case i == len(b):
		return t, true
	case (b[i] == 'Z' || b[i] == 'z') && i+1 == len(b):
		t.hasOffset = true
		return t, true
	case (b[i] == '+' || b[i] == '-') && i+6 == len(b) && b[i+3] == ':':
		oh, ok1 := digitsAt(b, i+1, 2)
		om, ok2 := digitsAt(b, i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return t, false
		}
		t.hasOffset = true
		t.offset = (oh*3600 + om*60)
		if b[i] == '-' {
			t.offset = -t.offset
		}
		return t, true
	}
	return t, false
}

// quoteText renders a text input for an error message, shortened if long.
func quoteText(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
