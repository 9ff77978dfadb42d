package workflow

import (
	"context"
	"time"
)

// catalogCacheSize bounds the workflows the run path remembers.
const catalogCacheSize = 1024

// runWorkflow returns the workflow slug for a run: from the catalog cache
// when it was read less than CatalogTTL ago, else from the store. A paid
// run needs the workflow's fee, URL and active flag, which change rarely
// and only through an admin; reading them once per CatalogTTL instead of
// once per run takes a query off the hot path. This process forgets a
// workflow as soon as it changes it (a run that read the old version while
// the change committed may put it back, for at most CatalogTTL); other
// replicas see a change within CatalogTTL. Unknown slugs are not remembered.
func (s *Service) runWorkflow(ctx context.Context, slug string) (Workflow, error) {
	if s.catalog == nil {
		return s.store.GetWorkflow(ctx, slug)
	}
	if w, ok := s.catalog.Get(slug); ok {
		return w, nil
	}
	w, err := s.store.GetWorkflow(ctx, slug)
	if err != nil {
		return Workflow{}, err
	}
	s.catalog.Add(slug, w)
	return w, nil
}

// forgetWorkflow drops slug from the catalog cache after a change here.
func (s *Service) forgetWorkflow(slug string) {
	if s.catalog != nil {
		s.catalog.Remove(slug)
	}
}

// DefaultCatalogTTL is WORKFLOW_CATALOG_TTL's default.
const DefaultCatalogTTL = time.Second
