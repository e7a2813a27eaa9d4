package sharing

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkQuery answers POST .../query over a table of n files on local
// disk (one commit), with the fake signer: the server's own cost (catalog,
// two policy decisions, log replay, filtering, signing, encoding).
//
//	go test -run '^$' -bench Query -benchtime 200x ./serve/sharing/
func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, body := range []string{`{}`, `{"jsonPredicateHints":"{\"op\":\"equal\",\"children\":[{\"op\":\"column\",\"name\":\"date\",\"valueType\":\"date\"},{\"op\":\"literal\",\"value\":\"2026-01-02\",\"valueType\":\"date\"}]}"}`} {
			name := fmt.Sprintf("files=%d/hints=%v", n, body != `{}`)
			b.Run(name, func(b *testing.B) {
				e := newEnv(b)
				var log strings.Builder
				log.WriteString(strings.SplitAfterN(ordersLog[0], "\n", 4)[0])
				log.WriteString(strings.SplitAfterN(ordersLog[0], "\n", 4)[1])
				log.WriteString(strings.SplitAfterN(ordersLog[0], "\n", 4)[2])
				for i := 0; i < n; i++ {
					day := fmt.Sprintf("2026-01-%02d", i%28+1)
					log.WriteString(addLine(fmt.Sprintf("date=%s/part-%05d.parquet", day, i), str(day), 1000, stats(10, i*10, i*10+9)) + "\n")
				}
				writeLog(b, e.dirs["orders"], []string{log.String()})
				req := func() *httptest.ResponseRecorder {
					r := httptest.NewRequest("POST", DefaultPrefix+orders+"/query", strings.NewReader(body))
					r.Header.Set("Authorization", "Bearer "+e.tokens["acme"])
					w := httptest.NewRecorder()
					e.h.ServeHTTP(w, r)
					return w
				}
				if w := req(); w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					req()
				}
			})
		}
	}
}
