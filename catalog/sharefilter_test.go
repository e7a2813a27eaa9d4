package catalog

import (
	"errors"
	"reflect"
	"testing"
)

// TestShareFilterAndRecipientProperties: a shared table's filter and a
// recipient's properties are stored, read back canonical, and survive a
// reopen, on each backend; a malformed filter is refused.
func TestShareFilterAndRecipientProperties(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *testDB) {
		c := db.open(t)
		fixture(t, c)
		must(t, c, func(tx *Tx) error {
			if _, err := tx.CreateShare(Share{Name: "geo"}); err != nil {
				return err
			}
			if _, err := tx.AddShareTable("geo", ShareTable{Table: "sales.eu.orders", Filter: "day = current_recipient('day')  AND  day = '2026-01-01'"}); err != nil {
				return err
			}
			_, _, err := tx.CreateRecipient(Recipient{Name: "de", SharingProperties: map[string]string{"country": "DE", "tier": "gold"}})
			return err
		})
		must(t, c, func(tx *Tx) error {
			_, err := tx.SetRecipientSharingProperties("de", map[string]string{"country": "FR"}, []string{"tier"})
			return err
		})
		c.Close()
		c = db.open(t)
		must(t, c, func(tx *Tx) error {
			sh, err := tx.GetShare("geo")
			if err != nil {
				return err
			}
			if want := "day = current_recipient('day') AND day = '2026-01-01'"; len(sh.Tables) != 1 || sh.Tables[0].Filter != want {
				t.Errorf("tables %+v, want filter %q", sh.Tables, want)
			}
			rc, err := tx.GetRecipient("de")
			if err != nil {
				return err
			}
			if want := map[string]string{"country": "FR"}; !reflect.DeepEqual(rc.SharingProperties, want) {
				t.Errorf("properties %v, want %v", rc.SharingProperties, want)
			}
			if _, err := tx.SetRecipientSharingProperties("de", nil, []string{"tier"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("unsetting a missing property: %v, want not found", err)
			}
			if _, err := tx.AddShareTable("geo", ShareTable{Table: "sales.eu.orders", Alias: "o2", Filter: "day > '2026'"}); !errors.Is(err, ErrInvalid) {
				t.Errorf("malformed filter: %v, want invalid", err)
			}
			return nil
		})
	})
}
