package testenv

import (
	"os/exec"
	"testing"
)

// Environment variables exported by deploy/testenv/test.sh for containers
// (deploy/container/setup.sh): podman serving the Docker API, and Docker
// Compose.
const (
	EnvDockerHost = "DOCKER_HOST"         // unix:///…/podman.sock, this run's own service
	EnvCompose    = "SLUICE_TEST_COMPOSE" // the docker-compose binary
	EnvPodman     = "SLUICE_TEST_PODMAN"  // the podman binary (health checks, inspection)
)

// ContainerEnv is the container tooling of the test run.
type ContainerEnv struct {
	DockerHost string // the Docker API the compose binary talks to
	Compose    string // docker-compose
	Podman     string // podman
}

// Containers returns the container tooling. It fails the test when the
// environment is not set up or a binary does not run (skips it under
// -short).
func Containers(t testing.TB) *ContainerEnv {
	t.Helper()
	c := &ContainerEnv{DockerHost: need(t, EnvDockerHost), Compose: need(t, EnvCompose), Podman: need(t, EnvPodman)}
	for _, bin := range []string{c.Compose, c.Podman} {
		if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
			t.Fatalf("%s version: %v\n%s\nrun deploy/testenv/test.sh (deploy/container/setup.sh installs it)", bin, err, out)
		}
	}
	return c
}
