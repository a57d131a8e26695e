package pginbox

// SetPipelineBuild sets whether copies commit in the background, and returns the undo.
func SetPipelineBuild(v bool) (undo func()) {
	prev := pipelineBuild
	pipelineBuild = v
	return func() { pipelineBuild = prev }
}

// SetBuildUnlogged sets whether Fresh builds copies unlogged, and returns the undo.
func SetBuildUnlogged(v bool) (undo func()) {
	prev := buildUnlogged
	buildUnlogged = v
	return func() { buildUnlogged = prev }
}

// SetKnownBuild sets whether copies answer reads from what they wrote, and returns the undo.
func SetKnownBuild(v bool) (undo func()) {
	prev := knownBuild
	knownBuild = v
	return func() { knownBuild = prev }
}

// Migrations are the schema migrations, for tests that build an older schema.
var Migrations = migrations
