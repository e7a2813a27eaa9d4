package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/ingest"
)

// awsCredentialVars are the variables through which the AWS SDK finds
// credentials (keys, profiles and their files, roles, container and web
// identity sources). With scoped credentials none of the server's reaches
// a worker.
var awsCredentialVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_DISABLED",
}

// s3Tables returns the spec's tables that are on S3: the sink and the
// dead-letter table.
func s3Tables(sp *ingest.Spec) []string {
	var out []string
	for _, t := range []string{sp.Sink.Table, sp.DeadLetter.Table} {
		if len(t) > 5 && strings.EqualFold(t[:5], "s3://") && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// workerCredentials returns the credentials a worker of spec gets: fresh,
// if minted ahead, or newly minted for its S3 tables; nil when the
// supervisor does not scope credentials or the tables are not on S3.
func (s *Supervisor) workerCredentials(ctx context.Context, id string, sp *ingest.Spec, fresh *objstore.TempCredentials) (*objstore.TempCredentials, error) {
	if s.creds == nil {
		return nil, nil
	}
	tables := s3Tables(sp)
	if len(tables) == 0 {
		return nil, nil
	}
	if fresh != nil {
		return fresh, nil
	}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cr, err := s.creds.Mint(mctx, sessionName(id), tables)
	if err != nil {
		return nil, fmt.Errorf("worker credentials: %w", err)
	}
	return &cr, nil
}

// sessionName is the STS session name of query id's worker (at most 64
// characters), which CloudTrail and MinIO's audit log show.
func sessionName(id string) string {
	n := "sluice-" + id
	return n[:min(len(n), 64)]
}

// scopeEnv replaces the server's AWS credentials in env with cr (none when
// cr is nil), and keeps the SDK from falling back to the instance's role.
func scopeEnv(env []string, cr *objstore.TempCredentials) []string {
	out := slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(awsCredentialVars, k)
	})
	out = append(out, "AWS_EC2_METADATA_DISABLED=true")
	if cr != nil {
		out = append(out, "AWS_ACCESS_KEY_ID="+cr.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+cr.SecretAccessKey, "AWS_SESSION_TOKEN="+cr.SessionToken)
	}
	return out
}

// refreshAt is when a worker started at started with credentials expiring
// at expires is restarted with fresh ones: at 80% of their lifetime.
func refreshAt(started, expires time.Time) time.Time {
	return started.Add(expires.Sub(started) * 4 / 5)
}

// remint mints the next worker's credentials while the current one still
// runs, retrying with backoff until expires; nil if it could not (the next
// start then mints, with the usual start backoff) or ctx ended.
func (s *Supervisor) remint(ctx context.Context, q *query, spec *ingest.Spec, expires time.Time) *objstore.TempCredentials {
	b := backoff{min: s.backoffMin, max: s.backoffMax}
	for {
		cr, err := s.workerCredentials(ctx, q.id, spec, nil)
		if err == nil {
			return cr
		}
		d := b.next()
		if ctx.Err() != nil || time.Now().Add(d).After(expires) {
			return nil
		}
		s.log.Error("renew worker credentials; retrying", "query", q.id, "table", q.table, "in", d, "err", err)
		q.update(func(st *Status) { st.LastError = err.Error() })
		if !sleep(ctx, d) {
			return nil
		}
	}
}
