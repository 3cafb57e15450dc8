// Package migrations embeds the SQL migrations of evpush's own tables, so
// the binary migrates a database without files beside it. Files are goose
// migrations (-- +goose Up / Down), numbered; River's tables come from
// River's own migrator in the same `evpush migrate` step.
package migrations

import "embed"

// FS holds the numbered *.sql files of evpush's own tables.
//
//go:embed *.sql
var FS embed.FS

// ReferenceFS holds the reference charging module's tables (stations,
// charging_sessions), applied only when that module is on: in production
// they belong to the charging service. Its own history table keeps the two
// sets independent.
//
//go:embed reference/*.sql
var ReferenceFS embed.FS
