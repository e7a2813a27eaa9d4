//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/sluice-io/sluice/deploy/testenv"
)

// TestQueriesScopedCredentialsEndToEnd: with --worker-role-arn the real
// worker process holds STS session credentials, not the server's keys
// (read from /proc/PID/environ), writes its table on MinIO with them
// (delta-rs reads every kept record), and those credentials are refused
// next to its table.
func TestQueriesScopedCredentialsEndToEnd(t *testing.T) {
	k := testenv.Kafka(t)
	s3env := testenv.MinIO(t)
	bucket := s3env.NewBucket(t)
	e := newQueryE2E(t, k, s3env, bucket)
	ctx := context.Background()
	root := s3env.Client()
	other := "lake/sales/eu/other_table/_delta_log/00000000000000000000.json"
	if _, err := root.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(other), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	dir := serveDirWithLogs(t)
	url, stop := startServe(t, dir, "--warehouse", "s3://"+bucket+"/lake", "--worker-role-arn", "arn:aws:iam::000000000000:role/sluice-worker")
	defer stop()
	e.url = url
	var o, errb syncBuffer
	if code := run(ctx, []string{"sql", "--server", e.url, "--token", e.token, "-e", fmt.Sprintf(pipelineSQL, strings.Join(k.Brokers, ","), e.topic)}, &o, &errb); code != 0 {
		t.Fatalf("sluice sql: exit %d\n%s\n%s", code, o.String(), errb.String())
	}
	e.produce(300)
	q := e.waitQuery("a running worker", func(q map[string]string) bool { return q["status"] == "running" && q["pid"] != "" })
	e.waitRows("records written with scoped credentials")

	raw, err := os.ReadFile("/proc/" + q["pid"] + "/environ")
	if err != nil {
		t.Fatalf("worker environment: %v", err)
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	if bytes.Contains(raw, []byte(s3env.SecretKey)) || env["AWS_ACCESS_KEY_ID"] == s3env.AccessKey || env["AWS_ACCESS_KEY_ID"] == "" || env["AWS_SESSION_TOKEN"] == "" {
		t.Fatalf("worker %s: access key %q, session token %d bytes, server secret present: %v; want session credentials only",
			q["pid"], env["AWS_ACCESS_KEY_ID"], len(env["AWS_SESSION_TOKEN"]), bytes.Contains(raw, []byte(s3env.SecretKey)))
	}

	// The worker's credentials reach its table and nothing beside it.
	c := s3.New(s3.Options{Region: s3env.Region, BaseEndpoint: aws.String(s3env.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"])})
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("lake/sales/eu/big_orders/_delta_log/")}); err != nil {
		t.Errorf("the worker's credentials cannot list its own table: %v", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(other)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("the worker's credentials reading another table: %v, want AccessDenied", err)
	}
}
