package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/vasagw/vasagw/internal/vcenter"
)

func closeSession(s *vcenter.Session, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		log.Warn("close the vCenter session", "error", err)
	}
}
