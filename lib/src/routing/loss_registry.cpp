// routing: the table of balancing and router losses, and the parts a site gets. To add a loss:
// write lib/src/routing/losses/<name>.cpp (a SiteLoss and its LossEntry loss_<name>()), give it
// a LossKind and a kLossNames entry (loss.hpp), and add it to MOE_LOSSES below.
#include "moe/routing/loss.hpp"

#include <algorithm>

#include "moe/core/error.hpp"
#include "moe/routing/registry.hpp"

namespace moe::routing {

#define MOE_LOSSES(X) X(lbl) X(z_loss) X(dynmole_loss) X(null_loss)

#define MOE_DECLARE_LOSS(id) LossEntry loss_##id();
MOE_LOSSES(MOE_DECLARE_LOSS)

const std::vector<LossEntry> & losses() {
#define MOE_LOSS_ENTRY(id) loss_##id(),
    static const std::vector<LossEntry> all = [] {
        std::vector<LossEntry> v = {MOE_LOSSES(MOE_LOSS_ENTRY)};
        for (int k = 0; k < (int)v.size(); ++k) // the table is in kind order, named as the telemetry
            MOE_ASSERT(v[k].kind == k && std::string(v[k].name) == kLossNames[k]);
        return v;
    }();
    return all;
}

const LossEntry & loss_entry(int kind) { return losses().at(kind); }

const LossEntry * find_loss(const std::string & name) {
    for (const auto & l : losses())
        if (name == l.name) return &l;
    return nullptr;
}

bool loss_pooled(int kind, const BalanceConfig & bc) {
    if (!loss_entry(kind).poolable || bc.lbl_pool == "site") return false;
    if (bc.lbl_pool == "layers") return true;
    return kind != kLbl || bc.lbl != "megatron"; // auto: Megatron's LBL is per layer
}

template <typename T>
std::vector<std::unique_ptr<SiteLoss<T>>> make_site_losses(const BalanceConfig & bc, const RouterConfig & rc) {
    const RouterEntry & r = router_entry(rc.kind);
    std::vector<std::unique_ptr<SiteLoss<T>>> out;
    for (const auto & l : losses()) {
        const bool router_loss = std::find(r.losses.begin(), r.losses.end(), std::string(l.name)) != r.losses.end();
        const bool general = l.kind == kLbl || l.kind == kZLoss;
        if (!general && !router_loss) continue;
        std::unique_ptr<SiteLoss<T>> part;
        if constexpr (std::is_same_v<T, float>)
            part = l.make_float(bc, rc, loss_pooled(l.kind, bc));
        else
            part = l.make_double(bc, rc, loss_pooled(l.kind, bc));
        if (part) out.push_back(std::move(part));
    }
    return out;
}

template <typename T>
double pool_losses(int kind, std::span<SiteLoss<T> * const> parts, bool train, PoolState & st) {
    const LossEntry & l = loss_entry(kind);
    if constexpr (std::is_same_v<T, float>)
        return l.pool_float ? l.pool_float(parts, train, st) : 0.0;
    else
        return l.pool_double ? l.pool_double(parts, train, st) : 0.0;
}

template std::vector<std::unique_ptr<SiteLoss<float>>> make_site_losses<float>(const BalanceConfig &,
                                                                               const RouterConfig &);
template std::vector<std::unique_ptr<SiteLoss<double>>> make_site_losses<double>(const BalanceConfig &,
                                                                                 const RouterConfig &);
template double pool_losses<float>(int, std::span<SiteLoss<float> * const>, bool, PoolState &);
template double pool_losses<double>(int, std::span<SiteLoss<double> * const>, bool, PoolState &);

} // namespace moe::routing
