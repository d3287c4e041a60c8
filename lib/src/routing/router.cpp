// routing: what every router shares (see moe/routing/router.hpp).
#include "moe/routing/router.hpp"

#include "moe/routing/routing.hpp"

namespace moe::routing {

template <typename T>
void Router<T>::gate_backward(T * dp, const T * dgate, const T * gate, const T * p, const int32_t * idx, int N, int P,
                              int K) const {
    routing::gate_backward(dp, dgate, gate, p, idx, N, P, K, renorm_, scale_);
}

void count_slots(int64_t * counts, const int32_t * idx, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        if (idx[i] >= 0) counts[idx[i]] += 1;
}

template <typename T>
int route_to_first(int32_t * idx, T * gate, int N) {
    for (int n = 0; n < N; ++n) {
        idx[n] = 0;
        gate[n] = T(1);
    }
    return 1;
}

template class Router<float>;
template class Router<double>;
template int route_to_first<float>(int32_t *, float *, int);
template int route_to_first<double>(int32_t *, double *, int);

} // namespace moe::routing
