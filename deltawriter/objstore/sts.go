package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TempCredentials are short-lived S3 credentials, as STS hands them out.
type TempCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expires         time.Time
}

// Bounds of the lifetime of scoped credentials: STS's own limits (15 min
// at least; 12 h is the longest a role may allow).
const (
	MinScopedCredentialsTTL = 15 * time.Minute
	MaxScopedCredentialsTTL = 12 * time.Hour
)

// ScopedCredentials mints credentials confined to a few table prefixes: it
// assumes one role with STS AssumeRole and an inline session policy (see
// SessionPolicy), so the credentials may do no more than both the role and
// the policy allow.
type ScopedCredentials struct {
	client  *sts.Client
	roleARN string
	ttl     time.Duration
	region  string
}

// NewScopedCredentials returns a minter assuming roleARN for ttl. The
// AssumeRole calls are signed with the credentials the options and the
// environment give (as for NewS3). Their endpoint is, in order: WithEndpoint,
// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_S3 (MinIO serves STS on its S3
// endpoint), AWS_ENDPOINT_URL, AWS's regional STS endpoint.
func NewScopedCredentials(ctx context.Context, roleARN string, ttl time.Duration, opts ...S3Option) (*ScopedCredentials, error) {
	if !strings.HasPrefix(roleARN, "arn:") {
		return nil, fmt.Errorf("worker role %q: want a role ARN such as arn:aws:iam::123456789012:role/sluice-worker", roleARN)
	}
	if ttl < MinScopedCredentialsTTL || ttl > MaxScopedCredentialsTTL {
		return nil, fmt.Errorf("worker credentials lifetime %v: want %v to %v (the limits of STS)", ttl, MinScopedCredentialsTTL, MaxScopedCredentialsTTL)
	}
	var c s3Config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, fmt.Errorf("worker role %s: %w", roleARN, err)
		}
	}
	cfg, err := c.loadAWSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("worker role %s: %w", roleARN, err)
	}
	endpoint := c.endpoint
	if endpoint == "" && os.Getenv("AWS_ENDPOINT_URL_STS") == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &ScopedCredentials{client: client, roleARN: roleARN, ttl: ttl, region: cfg.Region}, nil
}

// Mint assumes the role for a session named session (at most 64 of
// [A-Za-z0-9+=,.@_-]) with a policy allowing only the tables at uris
// (s3://bucket/prefix).
func (m *ScopedCredentials) Mint(ctx context.Context, session string, uris []string) (TempCredentials, error) {
	policy, err := SessionPolicy(partition(m.region), uris...)
	if err != nil {
		return TempCredentials{}, err
	}
	out, err := m.client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(m.roleARN),
		RoleSessionName: aws.String(session),
		DurationSeconds: aws.Int32(int32(m.ttl / time.Second)),
		Policy:          aws.String(policy),
	})
	if err != nil {
		return TempCredentials{}, fmt.Errorf("assume worker role %s for %s: %w", m.roleARN, strings.Join(uris, ", "), err)
	}
	cr := out.Credentials
	if cr == nil || aws.ToString(cr.AccessKeyId) == "" || aws.ToString(cr.SecretAccessKey) == "" || cr.Expiration == nil {
		return TempCredentials{}, fmt.Errorf("assume worker role %s: STS answered without credentials or expiry", m.roleARN)
	}
	return TempCredentials{AccessKeyID: aws.ToString(cr.AccessKeyId), SecretAccessKey: aws.ToString(cr.SecretAccessKey),
		SessionToken: aws.ToString(cr.SessionToken), Expires: *cr.Expiration}, nil
}

// partition is the ARN partition of an AWS region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// policyDoc is an IAM policy document.
type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string][]string `json:",omitempty"`
}

// Object actions a table's writer needs: read, write (single and multipart
// uploads), delete, and clean up unfinished multipart uploads.
var tableObjectActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}

// SessionPolicy returns an IAM policy (JSON) that allows the objects under
// each s3://bucket/prefix URI to be read, written and deleted, and the
// bucket to be listed under those prefixes only. Nothing else: no other
// prefix, no bucket-level action. A prefix with a policy wildcard or
// variable character (* ? $) is refused, since it would widen the grant.
// partition is the ARN partition ("aws", "aws-cn", "aws-us-gov").
func SessionPolicy(partition string, uris ...string) (string, error) {
	if len(uris) == 0 {
		return "", errors.New("session policy: no table")
	}
	var objects []string
	prefixes := map[string][]string{} // by bucket
	var buckets []string
	for _, uri := range uris {
		bucket, prefix, err := splitS3URI(uri)
		if err != nil {
			return "", err
		}
		obj, list := "*", "*"
		if prefix != "" {
			obj, list = prefix+"/*", prefix+"/*"
		}
		objects = append(objects, "arn:"+partition+":s3:::"+bucket+"/"+obj)
		if _, ok := prefixes[bucket]; !ok {
			buckets = append(buckets, bucket)
		}
		if !slices.Contains(prefixes[bucket], list) {
			prefixes[bucket] = append(prefixes[bucket], list)
		}
	}
	doc := policyDoc{Version: "2012-10-17", Statement: []policyStatement{
		{Sid: "TableObjects", Effect: "Allow", Action: tableObjectActions, Resource: slices.Compact(objects)},
	}}
	for i, b := range buckets {
		doc.Statement = append(doc.Statement, policyStatement{Sid: fmt.Sprintf("ListTables%d", i), Effect: "Allow",
			Action: []string{"s3:ListBucket"}, Resource: []string{"arn:" + partition + ":s3:::" + b},
			Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": prefixes[b]}}})
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("session policy: %w", err)
	}
	return string(js), nil
}

// splitS3URI returns the bucket and the prefix (without slashes at its
// ends) of s3://bucket/prefix, refusing what a policy would read as a
// wildcard or a variable.
func splitS3URI(uri string) (bucket, prefix string, err error) {
	u, err := url.Parse(uri)
	if err != nil || !strings.EqualFold(u.Scheme, "s3") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("session policy: table %q: want s3://bucket/prefix", uri)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return "", "", fmt.Errorf("session policy: table %q: %w", uri, err)
		}
	}
	if strings.ContainsAny(u.Host+prefix, "*?$") {
		return "", "", fmt.Errorf("session policy: table %q: a bucket or prefix with *, ? or $ cannot be granted exactly; rename the table", uri)
	}
	return u.Host, prefix, nil
}
