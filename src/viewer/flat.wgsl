// The viewer's fast look: one colour (times the vertex colour, when the mesh has one) lit by
// the sun with a Lambert term and an ambient floor. A few instructions per pixel, where
// bevy's PBR shader runs hundreds: what a software rasterizer (lavapipe) can afford.
#import bevy_pbr::forward_io::VertexOutput

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var<uniform> base_color: vec4<f32>;
// xyz: unit vector towards the sun; w: ambient share of the light (1 = unlit).
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var<uniform> sun: vec4<f32>;

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    var c = base_color;
#ifdef VERTEX_COLORS
    c = c * in.color;
#endif
    let lambert = max(dot(normalize(in.world_normal), sun.xyz), 0.0);
    let light = sun.w + (1.0 - sun.w) * lambert;
    return vec4<f32>(c.rgb * light, c.a);
}
