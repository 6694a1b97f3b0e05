#include "rt/run_blocking.hpp"

#include <uv.h>

#include "rt/loop.hpp"

namespace calgate::rt::detail {

void submit_blocking(blocking_op* op) {
  auto* req = new uv_work_t;
  req->data = op;
  op->req = req;
  int rc = uv_queue_work(
      loop::current().raw(), req,
      [](uv_work_t* r) {
        auto* o = static_cast<blocking_op*>(r->data);
        o->work(o);
      },
      [](uv_work_t* r, int /*status*/) {
        auto* o = static_cast<blocking_op*>(r->data);
        o->req = nullptr;
        delete r;
        o->done(o);
      });
  if (rc != 0) {
    delete req;
    op->req = nullptr;
    throw error(uv_error(rc), "uv_queue_work");
  }
}

void cancel_blocking(blocking_op* op) noexcept {
  // Succeeds only while the work is still queued; a running job completes.
  if (op->req) uv_cancel(static_cast<uv_req_t*>(op->req));
}

}  // namespace calgate::rt::detail
