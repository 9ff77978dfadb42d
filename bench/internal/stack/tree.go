package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tree is another commit of the repository, exported (`git archive`, so
// the repository's own state is never touched: no worktree, no ref) into a
// temporary directory and built there with its own `make build`. Its
// stack runs its own binaries, migrates its own databases with them, and
// so is that commit's Meterflow as `make run` at that commit would start it.
type Tree struct {
	// Rev is the revision asked for; Commit its full hash; Short the
	// abbreviated hash the report names it by.
	Rev, Commit, Short string
	// Root is the exported tree (bin/ is under it after the build).
	Root string
	dir  string
}

// Checkout exports revision rev of the repository at root into a new
// temporary directory and builds its binaries (`make build` of that
// commit's Makefile). The caller must Remove
// the tree, also when Checkout returns one with an error.
func Checkout(ctx context.Context, root, rev string) (*Tree, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "--quiet", rev+"^{commit}").Output()
	if err != nil {
		return nil, fmt.Errorf("-b-commit %q is not a commit of %s", rev, root)
	}
	t := &Tree{Rev: rev, Commit: strings.TrimSpace(string(out))}
	t.Short = t.Commit[:min(len(t.Commit), 9)]
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", t.Commit).Output(); err == nil {
		t.Short = strings.TrimSpace(string(out))
	}
	if t.dir, err = os.MkdirTemp("", "meterflow-bench-b-"); err != nil {
		return nil, err
	}
	t.Root = filepath.Join(t.dir, "src")
	if err := os.Mkdir(t.Root, 0o755); err != nil {
		return t, err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", t.Commit)
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", t.Root)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return t, err
	}
	extract.Stdin = pipe
	var archErr, tarErr strings.Builder
	archive.Stderr, extract.Stderr = &archErr, &tarErr
	if err := extract.Start(); err != nil {
		return t, err
	}
	if err := archive.Run(); err != nil {
		_ = extract.Wait()
		return t, fmt.Errorf("git archive %s: %w: %s", t.Short, err, archErr.String())
	}
	if err := extract.Wait(); err != nil {
		return t, fmt.Errorf("extract %s: %w: %s", t.Short, err, tarErr.String())
	}
	build := exec.CommandContext(ctx, "make", "-C", t.Root, "build")
	if out, err := build.CombinedOutput(); err != nil {
		return t, fmt.Errorf("make build at %s: %w: %s", t.Short, err, lastLines(string(out), 20))
	}
	return t, nil
}

// Remove deletes the exported tree and its binaries.
func (t *Tree) Remove() error {
	if t == nil || t.dir == "" {
		return nil
	}
	return os.RemoveAll(t.dir)
}
