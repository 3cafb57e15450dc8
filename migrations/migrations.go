// Package migrations embeds the SQL migrations of evpush's own tables, so
// the binary migrates a database without files beside it. Files are goose
// migrations (-- +goose Up / Down), numbered; River's tables come from
// River's own migrator in the same `evpush migrate` step.
package migrations

import "embed"

// FS holds the numbered *.sql files.
//
//go:embed *.sql
var FS embed.FS
