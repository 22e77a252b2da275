package pipeline

import (
	"fmt"

	"dagger.io/dagger"
)

// Credentials of the throwaway databases the test and smoke stages use.
// They only exist inside the engine, for the life of one service.
const (
	pgUser     = "gantry"
	pgPassword = "gantry-throwaway"
	pgDB       = "gantry"
)

// postgres returns the pinned PostgreSQL image as a service; distinct keys
// give distinct instances (the smoke stage stops its own).
func postgres(env Env, key string) *dagger.Service {
	return env.Client.Container().From(env.Images.Postgres).
		WithEnvVariable("POSTGRES_USER", pgUser).
		WithEnvVariable("POSTGRES_PASSWORD", pgPassword).
		WithEnvVariable("POSTGRES_DB", pgDB).
		WithEnvVariable("GANTRY_SERVICE", key).
		WithExposedPort(5432).
		AsService(dagger.ContainerAsServiceOpts{UseEntrypoint: true})
}

// databaseURL is how a container reaches a postgres service bound as host.
func databaseURL(host string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:5432/%s?sslmode=disable", pgUser, pgPassword, host, pgDB)
}
