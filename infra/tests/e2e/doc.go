// Package e2e holds the end-to-end tests: they build the notify binary, run it as a user
// would and talk to it only over HTTP (and, after it stops, read its files).
package e2e
